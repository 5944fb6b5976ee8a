// Dataset Explorer: search the corpus (vector / graph / keyword / hybrid), preview documents, make a dataset
// from the selection, analyze and export datasets.
import { useState } from '../../vendor/preact-htm.mjs';
import { api, download } from '../api.js';
import { can, fmtDate, fmtNum, html, Select, Status, useAction, useLoad } from '../ui.js';

const MODES = ['hybrid', 'vector', 'graph', 'keyword'];
const SOURCES = ['vector', 'graph', 'keyword'];

export function DatasetExplorer({ me }) {
  const [corpus] = useLoad(() => api('/api/datasets/corpus'));
  const [datasets, reloadDatasets] = useLoad(() => api('/api/datasets?limit=100'));
  const [results, setResults] = useState(null);
  const [chosen, setChosen] = useState(new Set());
  const [preview, setPreview] = useState(null);
  const [run, state] = useAction();
  const search = (req, mode) => run(async () => {
    const res = await api(`/api/datasets/search/${mode}`, { method: 'POST', body: req });
    setResults({ ...res, request: req });
    setChosen(new Set(res.results.map((r) => r.document.id)));
    return res;
  }, (res) => `${res.results.length} results in ${fmtNum(res.timings_ms.total, 3)} ms`);
  const toggle = (id) => { const s = new Set(chosen); if (s.has(id)) s.delete(id); else s.add(id); setChosen(s); };
  const open = (id) => api(`/api/datasets/corpus/documents/${encodeURIComponent(id)}`).then(setPreview, (e) => setPreview({ error: e.message }));
  return html`
    <div class="row">
      <div class="grow">
        ${can(me, 'datasets:search') && html`<${SearchForm} corpus=${corpus} onSearch=${search} busy=${state.busy} />`}
        <${Status} state=${state} />
        ${results && html`<${Results} results=${results} chosen=${chosen} onToggle=${toggle} onOpen=${open}
            onAll=${(on) => setChosen(new Set(on ? results.results.map((r) => r.document.id) : []))} />`}
        <${Datasets} datasets=${datasets} me=${me} />
      </div>
      <div class="side">
        ${preview && html`<${Preview} doc=${preview} />`}
        ${can(me, 'datasets:create') && html`<${CreateDataset} chosen=${chosen} results=${results} onCreated=${reloadDatasets} />
          <${UploadDataset} onCreated=${reloadDatasets} />`}
        ${corpus && html`<div class="card"><h2>Corpus</h2><div class="kv">
          <span class="muted">documents</span><span>${corpus.documents}</span>
          <span class="muted">chunks</span><span>${corpus.chunks}</span>
          ${Object.entries(corpus.by_domain).map(([d, n]) => html`<span class="muted">domain ${d}</span><span>${n}</span>`)}
        </div></div>`}
      </div>
    </div>`;
}

function SearchForm({ corpus, onSearch, busy }) {
  const [q, setQ] = useState('');
  const [mode, setMode] = useState('hybrid');
  const [weights, setWeights] = useState({ vector: 0.5, graph: 0.3, keyword: 0.2 });
  const [f, setF] = useState({ document_type: '', domain: '', date_from: '', date_to: '', min_quality: 0, top_k: 20 });
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const choose = (k) => (v) => setF({ ...f, [k]: v });
  const submit = (e) => {
    e.preventDefault();
    const filters = {
      document_type: f.document_type ? [f.document_type] : undefined, domain: f.domain ? [f.domain] : undefined,
      date_from: f.date_from || undefined, date_to: f.date_to || undefined,
      min_quality: Number(f.min_quality) > 0 ? Number(f.min_quality) : undefined,
    };
    onSearch({ query: q, top_k: Number(f.top_k), filters, include_text: false,
               weights: mode === 'hybrid' ? weights : undefined }, mode);
  };
  const options = (counts) => [['', 'any'], ...Object.keys(counts || {}).sort()];
  return html`
    <form class="card" data-testid="search" onSubmit=${submit}>
      <h2>Search the corpus</h2>
      <div class="row">
        <input name="query" class="grow" required placeholder="e.g. Baugenehmigung Abstandsflächen" value=${q} onInput=${(e) => setQ(e.target.value)} />
        <${Select} name="mode" value=${mode} onChange=${setMode} options=${MODES} />
        <button class="primary" type="submit" disabled=${busy}>Search</button>
      </div>
      ${mode === 'hybrid' && html`<div>${SOURCES.map((s) => html`
        <label class="inline">${s} <input type="range" name="w-${s}" min="0" max="1" step="0.05" value=${weights[s]}
          onInput=${(e) => setWeights({ ...weights, [s]: Number(e.target.value) })} /> ${weights[s].toFixed(2)}</label>`)}</div>`}
      <div>
        <label>Document type<${Select} name="document_type" value=${f.document_type} onChange=${choose('document_type')} options=${options(corpus?.by_document_type)} /></label>
        <label>Domain<${Select} name="domain" value=${f.domain} onChange=${choose('domain')} options=${options(corpus?.by_domain)} /></label>
        <label>From<input type="date" name="date_from" value=${f.date_from} onInput=${set('date_from')} /></label>
        <label>To<input type="date" name="date_to" value=${f.date_to} onInput=${set('date_to')} /></label>
        <label>Min quality ${Number(f.min_quality).toFixed(2)}<input type="range" name="min_quality" min="0" max="1" step="0.05" value=${f.min_quality} onInput=${set('min_quality')} /></label>
        <label>Results<input type="number" name="top_k" min="1" max="1000" value=${f.top_k} onInput=${set('top_k')} size="5" /></label>
      </div>
    </form>`;
}

const Results = ({ results, chosen, onToggle, onOpen, onAll }) => html`
  <div class="card">
    <h2>${results.results.length} results <span class="muted">(${results.mode}${results.fusion ? `, ${results.fusion.method}` : ''})</span></h2>
    <div class="scroll"><table data-testid="results">
      <thead><tr><th><input type="checkbox" title="select all" checked=${chosen.size === results.results.length}
            onChange=${(e) => onAll(e.target.checked)} /></th>
        <th>#</th><th>Document</th><th class="num">Score</th>${SOURCES.map((s) => html`<th class="num">${s}</th>`)}
        <th>Source</th><th class="num">Quality</th></tr></thead>
      <tbody>${results.results.map((r) => html`
        <tr key=${r.document.id} class="clickable" onClick=${() => onOpen(r.document.id)} data-doc=${r.document.id}>
          <td onClick=${(e) => e.stopPropagation()}><input type="checkbox" checked=${chosen.has(r.document.id)} onChange=${() => onToggle(r.document.id)} /></td>
          <td>${r.rank}</td>
          <td><b>${r.document.title}</b> <span class="muted">${r.document.domain} · ${r.document.document_type} · ${r.document.date || ''}</span>
            <div class="snippet">${r.snippet}</div></td>
          <td class="num">${fmtNum(r.score, 3)}</td>
          ${SOURCES.map((s) => html`<td class="num">${r.sources[s] ? html`${fmtNum(r.sources[s].score, 3)} <span class="muted">#${r.sources[s].rank}</span>` : '–'}</td>`)}
          <td>${r.document.source || '–'}</td><td class="num">${fmtNum(r.document.quality_score, 2)}</td>
        </tr>`)}</tbody>
    </table></div>
  </div>`;

const Preview = ({ doc }) => html`
  <div class="card" data-testid="preview">
    ${doc.error ? html`<div class="error">${doc.error}</div>` : html`
      <h2>${doc.title}</h2>
      <div class="kv">
        <span class="muted">id</span><span>${doc.id}</span><span class="muted">type</span><span>${doc.document_type}</span>
        <span class="muted">domain</span><span>${doc.domain}</span><span class="muted">date</span><span>${doc.date || '–'}</span>
        <span class="muted">source</span><span>${doc.source || '–'}</span><span class="muted">quality</span><span>${fmtNum(doc.quality_score, 2)}</span>
        <span class="muted">entities</span><span>${(doc.entities || []).map((e) => e.name || e).join(', ') || '–'}</span>
      </div>
      <h3>Text</h3><div class="doc-text">${doc.text}</div>`}
  </div>`;

function CreateDataset({ chosen, results, onCreated }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [granularity, setGranularity] = useState('chunk');
  const [run, state] = useAction();
  const create = (e) => {
    e.preventDefault();
    const body = { name: name.trim(), description: description || undefined, granularity,
                   source: { type: 'documents', document_ids: [...chosen] } };
    run(() => api('/api/datasets/create', { method: 'POST', body }).then((d) => { onCreated(); return d; }),
        (d) => `Created ${d.name} v${d.version} with ${d.stats?.count ?? '?'} records (${d.id})`);
  };
  return html`
    <form class="card" data-testid="create-dataset" onSubmit=${create}>
      <h2>New dataset from the selection</h2>
      <p class="muted">${chosen.size} documents selected${results ? ` from "${results.request.query}"` : ''}.</p>
      <label>Name<input name="dataset_name" required value=${name} onInput=${(e) => setName(e.target.value)} placeholder="baurecht-qa" /></label>
      <label>Records per<${Select} name="granularity" value=${granularity} onChange=${setGranularity} options=${['chunk', 'document']} /></label>
      <label>Description<input value=${description} onInput=${(e) => setDescription(e.target.value)} size="34" /></label>
      <p><button class="primary" type="submit" disabled=${state.busy || !chosen.size || !name.trim()}>Create dataset</button></p>
      <${Status} state=${state} />
    </form>`;
}

// Training records from a file (JSONL / JSON / CSV / Parquet with text, prompt/response or messages).
function UploadDataset({ onCreated }) {
  const [name, setName] = useState('');
  const [file, setFile] = useState(null);
  const [run, state] = useAction();
  const upload = (e) => {
    e.preventDefault();
    const form = new FormData();
    form.append('name', name.trim());
    form.append('file', file);
    run(() => api('/api/datasets/upload', { method: 'POST', form }).then((d) => { onCreated(); return d; }),
        (d) => `Uploaded ${d.name} v${d.version} with ${d.stats?.count ?? '?'} records`);
  };
  return html`
    <form class="card" data-testid="upload-dataset" onSubmit=${upload}>
      <h2>New dataset from a file</h2>
      <p class="muted">JSONL, JSON, CSV or Parquet records with <code>text</code>, <code>prompt</code>/<code>response</code> or <code>messages</code>.</p>
      <label>Name<input name="upload_name" required value=${name} onInput=${(e) => setName(e.target.value)} /></label>
      <label>File<input type="file" name="file" accept=".jsonl,.json,.csv,.parquet" onChange=${(e) => setFile(e.target.files[0] || null)} /></label>
      <p><button class="primary" type="submit" disabled=${state.busy || !file || !name.trim()}>Upload</button></p>
      <${Status} state=${state} />
    </form>`;
}

function Datasets({ datasets, me }) {
  const [report, setReport] = useState(null);
  const [format, setFormat] = useState('jsonl');
  const [run, state] = useAction();
  const analyze = (d) => run(() => api(`/api/datasets/${d.id}/analyze`, { method: 'POST', body: {} })
    .then((r) => setReport({ dataset: d, ...r })));
  const exportAs = (d) => run(() => download(`/api/datasets/${d.id}/export`, { format }), (file) => `Downloaded ${file}`);
  return html`
    <div class="card">
      <h2>Datasets</h2>
      ${can(me, 'datasets:export') && html`<label class="inline">Export format<${Select} name="format" value=${format} onChange=${setFormat}
        options=${['jsonl', 'parquet', 'csv']} /></label>`}
      <${Status} state=${state} />
      <table data-testid="datasets">
        <thead><tr><th>Name</th><th>Version</th><th class="num">Records</th><th>Source</th><th>Created</th><th>Id</th><th></th></tr></thead>
        <tbody>${(datasets?.items || []).map((d) => html`<tr key=${d.id} data-dataset=${d.name}>
          <td>${d.name}</td><td>v${d.version}</td><td class="num">${d.stats?.count ?? '–'}</td>
          <td>${d.source?.type}${d.source?.query ? `: ${d.source.query}` : ''}</td><td>${fmtDate(d.created_at)}</td><td class="muted">${d.id}</td>
          <td><button disabled=${state.busy} onClick=${() => analyze(d)}>Analyze</button>
            ${can(me, 'datasets:export') && html` <button disabled=${state.busy} onClick=${() => exportAs(d)}>Export</button>`}</td>
        </tr>`)}
        ${datasets && !datasets.items.length && html`<tr><td colspan="7" class="muted">No datasets yet.</td></tr>`}</tbody>
      </table>
      ${report && html`<div data-testid="analysis"><h3>Quality report: ${report.dataset.name} v${report.dataset.version}</h3>
        <div class="kv">
          <span class="muted">records</span><span>${report.records}</span><span class="muted">clean</span><span>${report.clean}</span>
          <span class="muted">flagged</span><span>${report.flagged}</span><span class="muted">mean quality</span><span>${fmtNum(report.mean_quality, 3)}</span>
          <span class="muted">mean domain relevance</span><span>${fmtNum(report.mean_relevance, 3)}</span>
          ${Object.entries(report.totals).map(([k, n]) => html`<span class="muted">${k.replace(/_/g, ' ')}</span><span>${n}</span>`)}
        </div></div>`}
    </div>`;
}
