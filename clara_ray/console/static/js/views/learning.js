// Learning loop: feedback buffer, running canaries (live ratings, end early), cycles with their gate decisions and
// reasons, a manual trigger; live over WebSocket.
import { useEffect, useState } from '../../vendor/preact-htm.mjs';
import { api, subscribe } from '../api.js';
import { Badge, can, fmtDate, fmtNum, html, Select, Status, useAction, useLoad } from '../ui.js';

export function LearningLoop({ me }) {
  const [stats, reloadStats, statsError] = useLoad(() => api('/api/learning/buffer'));
  const [cycles, reloadCycles, cyclesError] = useLoad(() => api('/api/learning/cycles?limit=100'));
  const [live, setLive] = useState('connecting');
  useEffect(() => subscribe('/api/learning/ws', (e) => {
    reloadStats();
    reloadCycles();  // also on feedback: a canary's ratings come as feedback
  }, { onState: setLive }), []);
  const error = statsError || cyclesError;
  const canaries = (cycles?.items || []).filter((c) => c.status === 'canary');
  return html`
    <div class="row">
      <div class="side">
        <div class="card" data-testid="buffer">
          <h2>Feedback buffer <span class="badge ${live}">${live}</span></h2>
          ${error && html`<div class="error">${error}</div>`}
          ${stats && html`<div class="kv">
            <span class="muted">pending (all adapters)</span><span data-testid="pending-total">${stats.pending_total}</span>
            ${Object.entries(stats.pending).map(([a, n]) => html`<span class="muted">pending · ${a}</span><span>${n}</span>`)}
            <span class="muted">stored in total</span><span>${stats.persisted_total}</span>
            <span class="muted">used by cycles</span><span>${stats.claimed_by_cycles}</span>
            <span class="muted">buffer bound</span><span data-testid="buffer-bound">${stats.pending_total} / ${stats.buffer_size}${stats.full ? ' · full: new feedback is refused, retry later' : ''}</span>
            <span class="muted">when full</span><span data-testid="overflow">${stats.overflow === 'wait' ? 'wait (nothing is dropped)' : 'drop lowest priority'}</span>
            <span class="muted">dropped</span><span data-testid="dropped-total">${stats.dropped_total}</span>
            <span class="muted">held out for evaluation</span><span data-testid="held-out-total">${stats.held_out_total ?? 0}</span>
            <span class="muted">refused while full</span><span>${stats.since_start.refused_full || 0}</span>
            <span class="muted">batch size that triggers</span><span>${stats.min_batch_size}</span>
            <span class="muted">time trigger</span><span>${stats.train_interval_seconds} s</span>
            <span class="muted">quality threshold</span><span>${stats.quality_threshold}</span>
            <span class="muted">running cycles</span><span>${stats.running_cycles.join(', ') || 'none'}</span>
          </div>`}
        </div>
        ${can(me, 'learning:trigger') && html`<${Trigger} onDone=${() => { reloadStats(); reloadCycles(); }} />`}
      </div>
      <div class="grow">
        ${canaries.length > 0 && html`<${Canaries} cycles=${canaries} me=${me} onDone=${reloadCycles} />`}
        <div class="card scroll-x">
        <h2>Cycles</h2>
        <table data-testid="cycles">
          <thead><tr><th>Adapter</th><th>Trigger</th><th>Status</th><th class="num">Samples</th>
            <th class="num">Validation ppl before → after</th><th class="num">Regression ppl before → after</th><th class="num" title="mean token KL(active || candidate) on the retained-skills set; gate: learning.max_kl">KL</th><th>Reason</th><th>Started</th><th>Finished</th></tr></thead>
          <tbody>${(cycles?.items || []).map((c) => html`<tr key=${c.cycle_id} data-alias=${c.alias} data-status=${c.status}>
            <td>${c.alias}</td><td>${c.trigger}</td><td><${Badge} value=${c.status} /></td><td class="num">${c.samples}</td>
            <td class="num">${fmtNum(c.metrics_before?.val_ppl)} → ${fmtNum(c.metrics_after?.val_ppl)}</td>
            <td class="num">${fmtNum(c.metrics_before?.regression_ppl)} → ${fmtNum(c.metrics_after?.regression_ppl)}</td>
            <td class="num" data-testid="cycle-kl">${fmtNum(c.metrics_after?.kl)}</td>
            <td class="reason">${c.reason || '–'}</td><td>${fmtDate(c.started_at)}</td><td>${fmtDate(c.finished_at)}</td></tr>`)}
            ${cycles && !cycles.items.length && html`<tr><td colspan="10" class="muted">No cycles yet.</td></tr>`}
          </tbody>
        </table>
      </div></div>
    </div>`;
}

const pct = (f) => (f == null ? '–' : `${Math.round(f * 100)} %`);

const BAR_FROM = { beside: '(beside it)', all: '(all time)', neutral: '(neutral)' };

// Candidates that passed the offline gate and serve a share of their alias while live ratings decide.
function Canaries({ cycles, me, onDone }) {
  const [run, state] = useAction();
  const end = (alias, action) => run(
    () => api('/api/learning/canary', { method: 'POST', body: { adapter: alias, action } }).then(onDone),
    `Canary of ${alias}: ${action === 'promote' ? 'promoted' : 'rolled back'}`);
  return html`<div class="card scroll-x" data-testid="canaries">
    <h2>Canaries</h2>
    <p class="muted">Each serves a share of its adapter's callers (the same callers throughout) until enough rated
      answers decide: promoted when its mean rating is not worse than the bar by more than the margin, rolled back
      otherwise or when time runs out. The bar is the active version's mean rating over the ratings given since the
      canary started once there are enough of them, before that over all its ratings.</p>
    <table>
      <thead><tr><th>Adapter</th><th>Canary</th><th class="num">Share</th><th class="num">Ratings</th>
        <th class="num">Mean (canary)</th><th class="num">Bar (active)</th><th>Since</th>
        ${can(me, 'adapters:activate') && html`<th></th>`}</tr></thead>
      <tbody>${cycles.map((c) => {
        const k = c.canary || {};
        return html`<tr key=${c.cycle_id} data-alias=${c.alias} data-testid="canary-row" title=${k.status || ''}>
          <td>${c.alias}</td><td data-testid="canary-version">${k.version || '–'}</td>
          <td class="num" data-testid="canary-fraction">${pct(k.fraction)}</td>
          <td class="num" data-testid="canary-ratings">${k.canary_ratings ?? 0} / ${k.min_ratings ?? '–'}</td>
          <td class="num">${fmtNum(k.canary_mean, 3)}</td>
          <td class="num" data-testid="canary-bar">${fmtNum(k.bar, 3)} ${BAR_FROM[k.bar_from] || ''}</td>
          <td>${fmtDate(k.started_at)}</td>
          ${can(me, 'adapters:activate') && html`<td>
            <button type="button" data-testid="canary-promote" disabled=${state.busy}
              onClick=${() => end(c.alias, 'promote')}>Promote</button>
            <button type="button" data-testid="canary-rollback" disabled=${state.busy}
              onClick=${() => end(c.alias, 'rollback')}>Roll back</button></td>`}
        </tr>`;
      })}</tbody>
    </table>
    <${Status} state=${state} />
  </div>`;
}

function Trigger({ onDone }) {
  const [adapters] = useLoad(() => api('/api/serving/adapters/list').catch(() => ({ aliases: {} })));
  const [adapter, setAdapter] = useState('');
  const [run, state] = useAction();
  const go = (e) => {
    e.preventDefault();
    run(() => api('/api/learning/trigger', { method: 'POST', body: { adapter } }).then(onDone),
        `Cycle requested for ${adapter}`);
  };
  return html`<form class="card" data-testid="trigger" onSubmit=${go}>
    <h2>Retrain now</h2>
    <p class="muted">Starts a cycle from the pending feedback of one adapter (joined to a running one if there is one).</p>
    <${Select} name="adapter" value=${adapter} onChange=${setAdapter}
      options=${[['', 'choose an adapter…'], ...Object.keys(adapters?.aliases || {})]} />
    <button class="primary" type="submit" disabled=${!adapter || state.busy}>Trigger cycle</button>
    <${Status} state=${state} />
  </form>`;
}
