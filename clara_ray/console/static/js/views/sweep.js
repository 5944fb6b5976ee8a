// Hyperparameter sweeps in the Training view: the job form's "Sweep" section and its request body, the trial table.
import { Badge, fmtNum, html, Select } from '../ui.js';
import { valuesText } from './recipes.js';

// The form's sweep fields, as typed; sweepBody turns them into the request's `sweep` section.
export const SWEEP_FIELDS = {
  enabled: false, lr_mode: 'values', learning_rates: '', lr_min: '', lr_max: '', lr_log: true, ranks: '', epochs: '',
  search: 'random', trials: '', max_concurrent_trials: '', time_budget_seconds: '', early_stopping: true,
  save_recipe: false,
};

// "1e-4, 3e-4" -> [0.0001, 0.0003]; empty -> undefined (the space does not vary that field).
function list(text, label, integer = false) {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (!parts.length) return undefined;
  return parts.map((p) => {
    const v = Number(p);
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new Error(`sweep ${label}: "${p}" is not ${integer ? 'a whole number' : 'a number'}`);
    }
    return v;
  });
}

const num = (v) => (v === '' ? undefined : Number(v));

function learningRates(s) {
  if (s.lr_mode === 'values') return list(s.learning_rates, 'learning rates');
  if (s.lr_min === '' && s.lr_max === '') return undefined;
  // A half-filled or inverted range comes back from the server as errors of both branches of the list-or-range
  // union (`learning_rate.list[float]: Input should be a valid list`, ...): say it plainly here instead.
  if (s.lr_min === '' || s.lr_max === '') throw new Error('sweep learning rate range: give both min and max');
  const range = { min: Number(s.lr_min), max: Number(s.lr_max), log: s.lr_log };
  if (!(range.min < range.max)) throw new Error('sweep learning rate range: min must be below max');
  return range;
}

// The request's `sweep` section (undefined when the job is no sweep). Only what the user filled goes in: the server
// validates the rest (an empty space, a grid over a range, ...) and its 422 names the field.
export function sweepBody(s) {
  if (!s.enabled) return undefined;
  return {
    space: { learning_rate: learningRates(s), r: list(s.ranks, 'ranks', true), epochs: list(s.epochs, 'epochs', true) },
    search: s.search,
    trials: s.search === 'grid' ? undefined : num(s.trials),
    max_concurrent_trials: num(s.max_concurrent_trials),
    time_budget_seconds: num(s.time_budget_seconds),
    early_stopping: s.early_stopping,
    save_recipe: s.save_recipe,
  };
}

// The form's collapsible section; `s` = SWEEP_FIELDS as typed, `setS(next)`.
export function SweepSection({ s, setS, defaultTrials }) {
  const set = (k) => (e) => setS({ ...s, [k]: e.target.value });
  const flag = (k) => (e) => setS({ ...s, [k]: e.target.checked });
  return html`
    <details class="sweep" data-testid="sweep-section">
      <summary>Sweep ${s.enabled && html`<span class="badge running">on</span>`}</summary>
      <label class="inline"><input type="checkbox" name="sweep_enabled" checked=${s.enabled} onChange=${flag('enabled')} />
        run as a sweep (trials over the values below; the best trial's adapter becomes the job's version)</label>
      <fieldset disabled=${!s.enabled}>
        <div>
          <label class="inline"><input type="radio" name="sweep_lr_mode" checked=${s.lr_mode === 'values'}
            onChange=${() => setS({ ...s, lr_mode: 'values' })} /> learning-rate values</label>
          <label class="inline"><input type="radio" name="sweep_lr_mode" checked=${s.lr_mode === 'range'}
            onChange=${() => setS({ ...s, lr_mode: 'range' })} /> learning-rate range</label>
        </div>
        ${s.lr_mode === 'values'
          ? html`<label>Learning rates (comma-separated)<input name="sweep_learning_rates" value=${s.learning_rates}
              onInput=${set('learning_rates')} placeholder="1e-4, 3e-4, 1e-3" size="24" /></label>`
          : html`<div>
              <label>Min<input name="sweep_lr_min" type="number" step="any" min="0" value=${s.lr_min} onInput=${set('lr_min')} size="8" /></label>
              <label>Max<input name="sweep_lr_max" type="number" step="any" min="0" value=${s.lr_max} onInput=${set('lr_max')} size="8" /></label>
              <label class="inline"><input type="checkbox" name="sweep_lr_log" checked=${s.lr_log} onChange=${flag('lr_log')} /> log scale</label>
            </div>`}
        <div>
          <label>LoRA ranks<input name="sweep_r" value=${s.ranks} onInput=${set('ranks')} placeholder="8, 16" size="10" /></label>
          <label>Epochs<input name="sweep_epochs" value=${s.epochs} onInput=${set('epochs')} placeholder="1, 2" size="8" /></label>
        </div>
        <div>
          <label>Search<${Select} name="sweep_search" value=${s.search} onChange=${(v) => setS({ ...s, search: v })}
            options=${[['random', 'random'], ['grid', 'grid (every combination)']]} /></label>
          <label>Trials<input name="sweep_trials" type="number" min="1" max="64" value=${s.trials} onInput=${set('trials')}
            disabled=${s.search === 'grid'} placeholder=${s.search === 'grid' ? 'all' : defaultTrials} size="5" /></label>
          <label>At once<input name="sweep_max_concurrent_trials" type="number" min="1" max="64" value=${s.max_concurrent_trials}
            onInput=${set('max_concurrent_trials')} placeholder="default" size="5" /></label>
          <label>Time budget (s)<input name="sweep_time_budget_seconds" type="number" min="1" step="any"
            value=${s.time_budget_seconds} onInput=${set('time_budget_seconds')} placeholder="none" size="7" /></label>
        </div>
        <label class="inline"><input type="checkbox" name="sweep_early_stopping" checked=${s.early_stopping}
          onChange=${flag('early_stopping')} /> stop trailing trials early</label>
        <label class="inline"><input type="checkbox" name="sweep_save_recipe" checked=${s.save_recipe}
          onChange=${flag('save_recipe')} /> save the winner as the alias's recipe</label>
      </fieldset>
    </details>`;
}

// The trials of a sweep job: the final table once finished (metrics.sweep), the live one (metrics.trials) before.
export const trialsOf = (job) => job.metrics?.sweep?.trials ?? job.metrics?.trials ?? [];
export const isSweep = (job) => Boolean(job.request?.sweep || job.metrics?.sweep || job.metrics?.trials);

// A tiny line of the validation-perplexity curve; lower is better, so a falling line is good.
function Sparkline({ values }) {
  if (values.length < 2) return html`<span class="muted">${values.map((v) => fmtNum(v)).join(' ') || '–'}</span>`;
  const w = 80; const h = 20;
  const lo = Math.min(...values); const span = Math.max(...values) - lo || 1;
  const points = values.map((v, i) => `${((i / (values.length - 1)) * w).toFixed(1)},${(h - 2 - ((v - lo) / span) * (h - 4)).toFixed(1)}`);
  const label = values.map((v) => fmtNum(v)).join(' → ');
  return html`<svg class="spark" data-testid="sparkline" width=${w} height=${h} viewBox="0 0 ${w} ${h}" role="img" aria-label=${label}>
    <title>${label}</title><polyline points=${points.join(' ')} /></svg>`;
}

export function TrialTable({ job }) {
  const trials = trialsOf(job);
  const best = job.metrics?.sweep?.best_trial;
  const counts = trials.reduce((c, t) => ({ ...c, [t.status]: (c[t.status] || 0) + 1 }), {});
  return html`
    <div data-testid="trials">
      <h3>Trials <span class="muted">${trials.length ? Object.entries(counts).map(([k, n]) => `${n} ${k.replace('_', ' ')}`).join(', ') : ''}</span></h3>
      ${best && html`<p data-testid="best-trial">Best: trial <b>${best}</b> (${valuesText(job.metrics.sweep.config)})</p>`}
      <div class="scroll-x"><table>
        <thead><tr><th>Trial</th><th>Status</th><th>Configuration</th><th class="num">Evaluations</th>
          <th class="num">Val perplexity</th><th>Curve</th></tr></thead>
        <tbody>${trials.map((t) => html`
          <tr key=${t.trial_id} data-trial=${t.trial_id} data-status=${t.status} data-best=${t.trial_id === best ? 'true' : null}
              class=${t.trial_id === best ? 'best' : ''}>
            <td>${t.trial_id}${t.trial_id === best && html` <${Badge} value="best" />`}</td>
            <td><${Badge} value=${t.status} />${t.error && html`<div class="error">${t.error}</div>`}</td>
            <td>${valuesText(t.config)}</td><td class="num">${t.evaluations}</td>
            <td class="num">${fmtNum(t.val_perplexity)}</td><td><${Sparkline} values=${t.curve || []} /></td>
          </tr>`)}
          ${!trials.length && html`<tr><td colspan="6" class="muted">Trials appear here as the sweep starts them.</td></tr>`}
        </tbody>
      </table></div>
    </div>`;
}
