// Completions: what was served, by which version, to whom, and the feedback it got; per-version ratings of an alias.
import { useState } from '../../vendor/preact-htm.mjs';
import { api } from '../api.js';
import { fmtDate, fmtNum, html, Select, useLoad } from '../ui.js';

const PAGE = 50;
const EMPTY = { adapter: '', version: '', caller: '' };

export function Completions() {
  const [models] = useLoad(() => api('/v1/models').then((r) => r.data).catch(() => []));
  const [draft, setDraft] = useState(EMPTY);
  const [filters, setFilters] = useState(EMPTY);
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState(null);
  const query = new URLSearchParams({ ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)),
    offset, limit: PAGE }).toString();
  const [page, reload, error] = useLoad(() => api(`/api/completions?${query}`), [query]);
  const aliases = (models || []).filter((m) => m.kind === 'alias').map((m) => m.id);
  const versions = (models || []).filter((m) => m.kind === 'version' && (!draft.adapter || m.id.startsWith(`${draft.adapter}@`)));
  const set = (k) => (v) => setDraft({ ...draft, [k]: v, ...(k === 'adapter' ? { version: '' } : {}) });
  const apply = (e) => { e.preventDefault(); setFilters(draft); setOffset(0); setSelected(null); };
  const items = page?.items || [];
  const shown = items.find((c) => c.id === selected);
  return html`
    <form class="card" data-testid="completion-filters" onSubmit=${apply}>
      <h2>Completions</h2>
      <label>Adapter<${Select} name="adapter" value=${draft.adapter} onChange=${set('adapter')}
        options=${[['', 'all'], ...aliases]} /></label>
      <label>Version<${Select} name="version" value=${draft.version} onChange=${set('version')}
        options=${[['', 'all'], ...versions.map((v) => v.id)]} /></label>
      <label>Caller<input name="caller" value=${draft.caller} onInput=${(e) => set('caller')(e.target.value)} /></label>
      <button class="primary" type="submit">Show</button> <button type="button" onClick=${reload}>Refresh</button>
    </form>
    ${filters.adapter && html`<${Ratings} adapter=${filters.adapter} />`}
    <div class="row">
      <div class="grow"><div class="card scroll-x">
        ${error && html`<div class="error">${error}</div>`}
        <table data-testid="completions">
          <thead><tr><th>When</th><th>Caller</th><th>Asked for</th><th>Served by</th><th>Prompt</th><th>Answer</th>
            <th>Finish</th><th class="num">Tokens in / out</th><th class="num">Latency</th><th>Feedback</th></tr></thead>
          <tbody>${items.map((c) => html`<tr key=${c.id} data-completion=${c.id} data-version=${c.version_ref || ''}
              class="clickable ${c.id === selected ? 'selected' : ''}" onClick=${() => setSelected(c.id)}>
            <td>${fmtDate(c.created_at)}</td><td>${c.caller || '–'}</td><td>${c.model || 'router'}</td>
            <td>${c.version_ref || 'base model'}</td><td><span class="snippet">${lastUserMessage(c)}</span></td>
            <td><span class="snippet">${c.output}</span></td><td>${c.finish_reason || '–'}</td>
            <td class="num">${c.prompt_tokens} / ${c.completion_tokens}</td><td class="num">${fmtNum(c.latency_ms, 3)} ms</td>
            <td data-testid="feedback-summary">${summary(c.feedback || [])}</td></tr>`)}
            ${page && !items.length && html`<tr><td colspan="10" class="muted">No completions match.</td></tr>`}
          </tbody>
        </table>
        ${page && html`<p class="muted">${page.total ? `${offset + 1}–${offset + items.length} of ${page.total}` : ''}
          <button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>Newer</button>
          <button disabled=${offset + items.length >= page.total} onClick=${() => setOffset(offset + PAGE)}>Older</button></p>`}
      </div></div>
      ${shown && html`<div class="side"><${Detail} c=${shown} /></div>`}
    </div>`;
}

const lastUserMessage = (c) => [...(c.messages || [])].reverse().find((m) => m.role === 'user')?.content ?? c.prompt;

function summary(feedback) {
  if (!feedback.length) return '–';
  const up = feedback.filter((f) => f.rating >= 0.5).length;
  const fixed = feedback.filter((f) => f.correction).length;
  return `${up} good · ${feedback.length - up} bad${fixed ? ` · ${fixed} corrected` : ''}`;
}

function Detail({ c }) {
  return html`<div class="card" data-testid="completion-detail">
    <h2>${c.id}</h2>
    <div class="kv">
      <span class="muted">route</span><span>${c.route}</span>
      <span class="muted">asked for</span><span>${c.model || 'router'}</span>
      <span class="muted">served by</span><span>${c.version_ref || 'base model'}</span>
      <span class="muted">caller</span><span>${c.caller || '–'}</span>
      <span class="muted">when</span><span>${fmtDate(c.created_at)}</span>
      ${c.error && html`<span class="muted">error</span><span class="error">${c.error}</span>`}
    </div>
    <h3>Conversation</h3>
    ${(c.messages || [{ role: 'prompt', content: c.prompt }]).map((m) => html`<div class="turn ${m.role}">${m.content}</div>`)}
    <div class="turn assistant"><div class="output">${c.output}</div></div>
    <h3>Feedback</h3>
    ${(c.feedback || []).map((f) => html`<div class="fb" data-testid="feedback-entry">
      rating ${fmtNum(f.rating)}${f.source && ` · ${f.source}`}${f.trained ? ' · trained on' : ''}
      <span class="muted"> · ${fmtDate(f.created_at)}</span>
      ${f.correction && html`<div class="output">${f.correction}</div>`}</div>`)}
    ${!(c.feedback || []).length && html`<p class="muted">None yet.</p>`}
  </div>`;
}

// Per-version figures of one alias; left out when the API does not offer them.
function Ratings({ adapter }) {
  const [data] = useLoad(() => api(`/api/feedback/ratings?adapter=${encodeURIComponent(adapter)}`).catch(() => null), [adapter]);
  const rows = Array.isArray(data) ? data : data?.versions || data?.items || [];
  if (!rows.length) return null;
  return html`<div class="card" data-testid="ratings"><h2>Ratings of ${adapter} by version</h2><table>
    <thead><tr><th>Version</th><th>Status</th><th class="num">Feedback</th><th class="num">Mean rating</th><th class="num">Corrections</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr data-version=${r.version_ref}><td>${r.version_ref}</td><td>${r.status || '–'}</td>
      <td class="num">${r.feedback ?? r.count}</td>
      <td class="num">${fmtNum(r.mean_rating)}</td><td class="num">${r.corrections}</td></tr>`)}</tbody></table></div>`;
}
