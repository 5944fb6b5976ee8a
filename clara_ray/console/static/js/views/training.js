// Training Monitor: jobs table and charts kept live by the training WebSocket; start (or sweep), cancel and retry jobs.
import { useEffect, useMemo, useRef, useState } from '../../vendor/preact-htm.mjs';
import { api, subscribe } from '../api.js';
import { Badge, can, Chart, fmtDate, fmtNum, fmtSeconds, html, Progress, Select, Status, useAction, useLoad } from '../ui.js';
import { saveSweepRecipe } from './recipes.js';
import { isSweep, SWEEP_FIELDS, sweepBody, SweepSection, TrialTable } from './sweep.js';

const FINISHED = ['COMPLETED', 'FAILED', 'CANCELLED'];
const MAX_EVENTS = 300;

// A metrics_update event changes the job's step, progress and latest values between job_update events; a sweep's
// `trial` event carries its whole trial table.
function applyProgress(job, e) {
  if (e.kind === 'trial') return { ...job, metrics: { ...job.metrics, trials: e.trials } };
  if (e.kind !== 'step') return job;
  const total = e.total_steps || job.total_steps;
  return { ...job, step: e.step, total_steps: total, progress: total ? e.step / total : job.progress,
           metrics: { ...job.metrics, loss: e.loss, learning_rate: e.learning_rate, tokens_per_s: e.tokens_per_s } };
}

function describe(e) {
  const d = e.data;
  if (e.type === 'job_update') return `${d.status}${d.error ? ` — ${d.error}` : ''}`;
  if (d.kind === 'step') return `step ${d.step}/${d.total_steps ?? '?'} loss ${fmtNum(d.loss)} lr ${fmtNum(d.learning_rate, 3)}`;
  if (d.kind === 'trial') return `trial ${d.trial_id}: ${(d.trials || []).find((t) => t.trial_id === d.trial_id)?.status ?? '?'}`;
  if (d.kind === 'eval') return `eval at step ${d.step}: perplexity ${fmtNum(d.perplexity)}${d.final ? ' (final)' : ''}`;
  return `${d.kind}: ${JSON.stringify(Object.fromEntries(Object.entries(d).filter(([k]) => !['job_id', 'kind', 'time'].includes(k))))}`;
}

export function TrainingMonitor({ me }) {
  const [jobs, setJobs] = useState([]);
  const [selected, setSelected] = useState(null);
  const [points, setPoints] = useState([]);
  const [events, setEvents] = useState([]);
  const [live, setLive] = useState('connecting');
  const [loadError, setLoadError] = useState(null);
  const selectedRef = useRef(null);
  selectedRef.current = selected;

  const loadJobs = () => api('/api/training/jobs?limit=100').then((p) => { setJobs(p.items); setLoadError(null); },
                                                                     (e) => setLoadError(e.message));
  useEffect(() => {
    loadJobs();
    return subscribe('/api/training/ws', (e) => {
      const d = e.data;
      if (e.type === 'job_update') {
        setJobs((js) => (js.some((j) => j.job_id === d.job_id) ? js.map((j) => (j.job_id === d.job_id ? d : j)) : [d, ...js]));
      } else if (e.type === 'metrics_update') {
        setJobs((js) => js.map((j) => (j.job_id === d.job_id ? applyProgress(j, d) : j)));
        if (d.job_id === selectedRef.current && (d.kind === 'step' || d.kind === 'eval')) setPoints((ps) => [...ps, d]);
      }
      if (d.job_id === selectedRef.current) setEvents((es) => [...es.slice(-MAX_EVENTS + 1), e]);
    }, { onState: setLive });
  }, []);
  // ETA comes from the server's measured step rate: refresh the table while anything runs.
  useEffect(() => {
    if (!jobs.some((j) => j.status === 'RUNNING')) return undefined;
    const t = setInterval(loadJobs, 5000);
    return () => clearInterval(t);
  }, [jobs.some((j) => j.status === 'RUNNING')]);
  useEffect(() => {
    setPoints([]); setEvents([]);
    if (selected) api(`/api/training/jobs/${selected}/metrics`).then((m) => setPoints(m.points), () => {});
  }, [selected]);

  const job = jobs.find((j) => j.job_id === selected);
  return html`
    <div class="row">
      <div class="grow">
        <div class="card">
          <h2>Training jobs <span class="badge ${live}" data-testid="live">${live}</span></h2>
          ${loadError && html`<div class="error">${loadError}</div>`}
          <${JobsTable} jobs=${jobs} selected=${selected} onSelect=${setSelected} />
        </div>
        ${job && html`<${JobDetail} job=${job} points=${points} events=${events} me=${me} onChange=${loadJobs} />`}
      </div>
      ${can(me, 'training:create') && html`<div class="side"><${StartJobForm} onStarted=${(j) => { setJobs((js) => [j, ...js.filter((x) => x.job_id !== j.job_id)]); setSelected(j.job_id); }} /></div>`}
    </div>`;
}

const JobsTable = ({ jobs, selected, onSelect }) => html`
  <table data-testid="jobs-table">
    <thead><tr><th>Adapter</th><th>Type</th><th>Status</th><th>Progress</th><th>ETA</th><th class="num">Loss</th>
      <th class="num">Perplexity</th><th>Created</th></tr></thead>
    <tbody>${jobs.map((j) => html`
      <tr key=${j.job_id} class="clickable ${j.job_id === selected ? 'selected' : ''}" data-job=${j.job_id} data-status=${j.status}
          onClick=${() => onSelect(j.job_id)}>
        <td>${j.name}${j.attempt > 1 ? html` <span class="muted">(attempt ${j.attempt})</span>` : ''}</td>
        <td>${j.trainer_type}</td><td><${Badge} value=${j.status} /></td>
        <td><${Progress} value=${j.status === 'COMPLETED' ? 1 : j.progress} /> <span class="muted">${j.step}/${j.total_steps || '?'}</span></td>
        <td>${j.status === 'RUNNING' ? fmtSeconds(j.eta_seconds) : '–'}</td>
        <td class="num">${fmtNum(j.metrics.loss)}</td><td class="num">${fmtNum(j.metrics.ppl_after ?? j.metrics.perplexity)}</td>
        <td>${fmtDate(j.created_at)}</td>
      </tr>`)}
      ${!jobs.length && html`<tr><td colspan="8" class="muted">No jobs yet.</td></tr>`}
    </tbody>
  </table>`;

function JobDetail({ job, points, events, me, onChange }) {
  const [run, state] = useAction();
  const series = useMemo(() => {
    // One point per (kind, step): the history fetch and live events can overlap.
    const unique = [...new Map(points.map((p) => [`${p.kind}:${p.step}`, p])).values()].sort((a, b) => a.step - b.step);
    const steps = unique.filter((p) => p.kind === 'step');
    return {
      loss: steps.map((p) => [p.step, p.loss]),
      lr: steps.map((p) => [p.step, p.learning_rate]),
      ppl: unique.filter((p) => p.kind === 'eval').map((p) => [p.step, p.perplexity]),
    };
  }, [points]);
  const act = (method, path, message) => run(() => api(path, { method }).then(onChange), message);
  return html`
    <div class="card" data-testid="job-detail">
      <h2>${job.name} <${Badge} value=${job.status} /> <span class="muted">${job.job_id}</span></h2>
      ${job.error && html`<div class="error">${job.error}</div>`}
      <p>
        ${can(me, 'training:cancel') && !FINISHED.includes(job.status) && html`<button class="danger" disabled=${state.busy}
          onClick=${() => act('DELETE', `/api/training/jobs/${job.job_id}`, 'Cancelled')}>Cancel job</button>`}
        ${can(me, 'training:create') && ['FAILED', 'CANCELLED'].includes(job.status) && html`<button disabled=${state.busy}
          onClick=${() => act('POST', `/api/training/jobs/${job.job_id}/retry`, 'Retry queued')}>Retry</button>`}
        ${can(me, 'training:create') && job.status === 'COMPLETED' && job.metrics?.sweep && html`<button disabled=${state.busy}
          data-testid="save-recipe" title="Later jobs and learning cycles of ${job.name} start from the best trial's configuration"
          onClick=${() => run(() => saveSweepRecipe(job), (message) => message)}>Save as recipe</button>`}
      </p>
      <${Status} state=${state} />
      ${isSweep(job) && html`<${TrialTable} job=${job} />`}
      <div class="charts">
        <${Chart} title="Training loss" points=${series.loss} testid="chart-loss" />
        <${Chart} title="Validation perplexity" points=${series.ppl} testid="chart-perplexity" />
        <${Chart} title="Learning rate" points=${series.lr} testid="chart-lr" />
      </div>
      <div class="row">
        <div class="grow"><h3>Events <span class="muted">(newest first)</span></h3><div class="events" data-testid="events">${[...events].reverse().map((e) => html`
          <div>${new Date(e.time * 1000).toLocaleTimeString('en-GB')} ${e.type === 'job_update' ? 'job' : 'metrics'}: ${describe(e)}</div>`)}
          ${!events.length && html`<span class="muted">Events of this job appear here as they happen.</span>`}</div></div>
        <div class="grow"><h3>Details</h3><div class="kv">
          ${Object.entries(job.metrics).filter(([k, v]) => typeof v !== 'object' && !k.startsWith('t_')).map(([k, v]) => html`<span class="muted">${k}</span><span>${fmtNum(v)}</span>`)}
          <span class="muted">adapter version</span><span>${job.adapter_version_id || '–'}</span>
          <span class="muted">created by</span><span>${job.created_by || '–'}</span>
          <span class="muted">started</span><span>${fmtDate(job.started_at)}</span>
          <span class="muted">finished</span><span>${fmtDate(job.finished_at)}</span>
          <span class="muted">request</span><pre class="request">${JSON.stringify(Object.fromEntries(Object.entries(job.request).filter(([, v]) => v !== null)), null, 1)}</pre>
        </div></div>
      </div>
    </div>`;
}

// The form's placeholders are the server's defaults; only fields the user fills are sent.
function StartJobForm({ onStarted }) {
  const [defaults] = useLoad(() => api('/api/training/defaults'));
  const [datasets] = useLoad(() => api('/api/datasets?limit=200').catch(() => ({ items: [] })));
  const [f, setF] = useState({ name: '', trainer_type: 'LORA', source: 'dataset', dataset_id: '', data_path: '',
                               epochs: '', learning_rate: '', r: '', alpha: '', max_steps: '', priority: '3',
                               activate: 'if_none', domain: '', description: '' });
  const [sweep, setSweep] = useState(SWEEP_FIELDS);
  const [run, state] = useAction();
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const choose = (k) => (v) => setF({ ...f, [k]: v });
  const typeDefaults = defaults?.by_trainer_type?.[f.trainer_type] || {};
  const submit = (e) => {
    e.preventDefault();
    const num = (v) => (v === '' ? undefined : Number(v));
    const body = {
      name: f.name.trim(), trainer_type: f.trainer_type, priority: Number(f.priority), activate: f.activate,
      epochs: num(f.epochs), learning_rate: num(f.learning_rate), max_steps: num(f.max_steps),
      domain: f.domain || undefined, description: f.description || undefined,
      lora: { r: num(f.r), alpha: num(f.alpha) },
      ...(f.source === 'dataset' ? { dataset_id: f.dataset_id || undefined } : { data_paths: f.data_path ? [f.data_path] : undefined }),
    };
    // sweepBody throws on an unreadable list entry: inside run, so the message shows like the server's 422s.
    run(() => api('/api/training/jobs', { method: 'POST', body: { ...body, sweep: sweepBody(sweep) } }).then((j) => { onStarted(j); return j; }),
        (j) => `Job ${j.job_id} queued`);
  };
  return html`
    <form class="card" data-testid="start-job" onSubmit=${submit}>
      <h2>Start a training job</h2>
      <label>Adapter name<input name="name" required value=${f.name} onInput=${set('name')} placeholder="baurecht" /></label>
      <label>Trainer<${Select} name="trainer_type" value=${f.trainer_type} onChange=${choose('trainer_type')}
        options=${['LORA', 'QLORA', 'CONTINUOUS']} /></label>
      <div>
        <label class="inline"><input type="radio" name="source" checked=${f.source === 'dataset'} onChange=${() => setF({ ...f, source: 'dataset' })} /> dataset</label>
        <label class="inline"><input type="radio" name="source" checked=${f.source === 'path'} onChange=${() => setF({ ...f, source: 'path' })} /> file path</label>
      </div>
      ${f.source === 'dataset'
        ? html`<label>Dataset<${Select} name="dataset_id" value=${f.dataset_id} onChange=${choose('dataset_id')}
            options=${[['', 'choose…'], ...(datasets?.items || []).map((d) => [d.id, `${d.name} v${d.version} (${d.stats?.count ?? '?'} records)`])]} /></label>`
        : html`<label>Data file (server path or URI)<input name="data_path" value=${f.data_path} onInput=${set('data_path')} size="30" /></label>`}
      <div>
        <label>Epochs<input name="epochs" type="number" min="1" value=${f.epochs} onInput=${set('epochs')} placeholder=${typeDefaults.epochs ?? ''} size="6" /></label>
        <label>Learning rate<input name="learning_rate" type="number" step="any" min="0" value=${f.learning_rate} onInput=${set('learning_rate')} placeholder=${typeDefaults.learning_rate ?? ''} /></label>
        <label>Max steps<input name="max_steps" type="number" min="1" value=${f.max_steps} onInput=${set('max_steps')} placeholder="all" /></label>
      </div>
      <div>
        <label>LoRA rank<input name="r" type="number" min="1" value=${f.r} onInput=${set('r')} placeholder=${defaults?.lora?.r ?? ''} /></label>
        <label>LoRA alpha<input name="alpha" type="number" min="1" value=${f.alpha} onInput=${set('alpha')} placeholder=${defaults?.lora?.alpha ?? ''} /></label>
        <label>Priority<${Select} name="priority" value=${f.priority} onChange=${choose('priority')} options=${['1', '2', '3', '4', '5']} /></label>
        <label>Activate<${Select} name="activate" value=${f.activate} onChange=${choose('activate')}
          options=${[['if_none', 'if the alias has none'], ['always', 'always'], ['never', 'never']]} /></label>
      </div>
      <label>Domain<input name="domain" value=${f.domain} onInput=${set('domain')} /></label>
      <label>Description<input name="description" value=${f.description} onInput=${set('description')} size="30" /></label>
      <${SweepSection} s=${sweep} setS=${setSweep} defaultTrials="4" />
      <p class="muted">Base model: ${defaults?.base_model ?? '…'}; empty fields take the server's defaults.</p>
      <button class="primary" type="submit" disabled=${state.busy}>${sweep.enabled ? 'Start sweep' : 'Start training'}</button>
      <${Status} state=${state} />
    </form>`;
}
