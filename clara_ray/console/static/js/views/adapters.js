// Adapter Manager: aliases and their versions, activate / roll back, each alias's training recipe, compare, try out.
import { useState } from '../../vendor/preact-htm.mjs';
import { api } from '../api.js';
import { Badge, can, fmtDate, fmtNum, html, Select, Status, useAction, useLoad } from '../ui.js';
import { AliasRecipe } from './recipes.js';

export function AdapterManager({ me }) {
  const [data, reload, error] = useLoad(() => api('/api/serving/adapters/list'));
  const [run, state] = useAction();
  if (error) return html`<div class="card error">${error}</div>`;
  if (!data) return html`<p class="muted">Loading adapters…</p>`;
  const names = [...new Set(data.versions.map((v) => v.name))].sort();
  const act = (path, body, message) => run(() => api(path, { method: 'POST', body }).then(reload), message);
  return html`
    <div class="card">
      <h2>Adapters <span class="muted">on base model ${data.base_model}</span></h2>
      <${Status} state=${state} />
      ${names.map((name) => html`<${AliasVersions} name=${name} active=${data.aliases[name]} me=${me} busy=${state.busy}
          canary=${(data.canaries || {})[name]}
          versions=${data.versions.filter((v) => v.name === name).sort((a, b) => b.version - a.version)}
          onActivate=${(ref) => act('/api/serving/activate_adapter', { adapter: ref }, `${ref} is now served`)}
          onRollback=${() => act('/api/serving/rollback', { name }, `${name} rolled back`)} />`)}
      ${!names.length && html`<p class="muted">No adapters yet: train one in the Training view.</p>`}
    </div>
    <div class="row">
      <div class="grow"><${Compare} versions=${data.versions} /></div>
      ${can(me, 'serving:generate') && html`<div class="grow"><${TryIt} versions=${data.versions} aliases=${data.aliases} /></div>`}
    </div>`;
}

// A running canary (GET /api/serving/adapters/list `canaries`): its share, since when, the ratings on each side.
const canaryText = (c) => `${c.version} answers ${Math.round(c.fraction * 100)} % of the callers since `
  + `${fmtDate(c.started_at)}: ${c.canary.ratings} ratings, mean ${fmtNum(c.canary.mean_rating, 3)} (active `
  + `${c.active.version}: ${c.active.ratings} ratings, mean ${fmtNum(c.active.mean_rating, 3)}).`;

function AliasVersions({ name, active, canary, versions, me, busy, onActivate, onRollback }) {
  const manage = can(me, 'adapters:activate');
  return html`
    <section data-testid="alias-${name}">
      <h3>${name} <span class="muted">serving</span> <span data-testid="active-${name}">${active || 'nothing'}</span>
        ${manage && active && html` <button disabled=${busy} data-testid="rollback-${name}" onClick=${onRollback}>Roll back</button>`}</h3>
      ${canary && html`<p data-testid="canary-${name}"><${Badge} value="canary" /> ${canaryText(canary)}
        <span class="muted"> Promote or roll back early in the Learning view.</span></p>`}
      ${can(me, 'training:read') && html`<${AliasRecipe} alias=${name} me=${me} />`}
      <table>
        <thead><tr><th>Version</th><th>Status</th><th>Domain</th><th>Trainer</th><th class="num">Rank</th>
          <th class="num">Perplexity before → after</th><th>Created</th><th>Base model</th><th></th></tr></thead>
        <tbody>${versions.map((v) => html`
          <tr key=${v.id} data-version=${v.ref}>
            <td>${v.ref}</td><td><${Badge} value=${v.status} />${v.status_reason && html`<div class="muted">${v.status_reason}</div>`}</td>
            <td>${v.domain || '–'}</td><td>${v.trainer_type}</td><td class="num">${v.rank}</td>
            <td class="num">${fmtNum(v.metrics?.ppl_before)} → ${fmtNum(v.metrics?.ppl_after)}</td>
            <td>${fmtDate(v.created_at)}</td><td class="muted">${v.base_model}</td>
            <td>${manage && v.ref !== active && html`<button disabled=${busy}
                  data-testid="activate-${v.ref}" onClick=${() => onActivate(v.ref)}>Activate</button>`}</td>
          </tr>`)}</tbody>
      </table>
    </section>`;
}

// Side by side: every metric either version recorded, and the difference.
function Compare({ versions }) {
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  const va = versions.find((v) => v.ref === a);
  const vb = versions.find((v) => v.ref === b);
  const keys = [...new Set([...Object.keys(va?.metrics || {}), ...Object.keys(vb?.metrics || {})])].sort();
  const pick = (value, set, testid) => html`<${Select} value=${value} onChange=${set} testid=${testid}
    options=${[['', 'choose…'], ...versions.map((v) => v.ref)]} />`;
  return html`
    <div class="card" data-testid="compare">
      <h2>Compare versions</h2>
      ${pick(a, setA, 'compare-a')} vs ${pick(b, setB, 'compare-b')}
      ${va && vb && html`<table>
        <thead><tr><th>Metric</th><th class="num">${a}</th><th class="num">${b}</th><th class="num">difference</th></tr></thead>
        <tbody>
          <tr><td>status</td><td class="num">${va.status}</td><td class="num">${vb.status}</td><td></td></tr>
          ${keys.map((k) => {
            const x = va.metrics?.[k]; const y = vb.metrics?.[k];
            return html`<tr><td>${k}</td><td class="num">${fmtNum(x)}</td><td class="num">${fmtNum(y)}</td>
              <td class="num">${typeof x === 'number' && typeof y === 'number' ? fmtNum(y - x) : ''}</td></tr>`;
          })}
        </tbody></table>`}
    </div>`;
}

function TryIt({ versions, aliases }) {
  const [adapter, setAdapter] = useState('');
  const [prompt, setPrompt] = useState('');
  const [maxTokens, setMaxTokens] = useState(48);
  const [out, setOut] = useState(null);
  const [run, state] = useAction();
  const go = (e) => {
    e.preventDefault();
    // Chat completions apply the base model's chat template, as the adapters were trained with it.
    const body = { model: adapter || 'base', messages: [{ role: 'user', content: prompt }], max_tokens: Number(maxTokens) };
    run(() => api('/v1/chat/completions', { method: 'POST', body })
      .then((r) => setOut({ model: r.model, text: r.choices[0].message.content, finish_reason: r.choices[0].finish_reason })));
  };
  return html`
    <form class="card" data-testid="try-it" onSubmit=${go}>
      <h2>Try it</h2>
      <label>Adapter<${Select} name="adapter" value=${adapter} onChange=${setAdapter} options=${[['', 'base model'],
        ...Object.keys(aliases).map((a) => [a, `${a} (active: ${aliases[a]})`]),
        ...versions.map((v) => v.ref)]} /></label>
      <label>Max tokens<input type="number" min="1" value=${maxTokens} onInput=${(e) => setMaxTokens(e.target.value)} size="5" /></label>
      <textarea name="prompt" required placeholder="Ask something…" value=${prompt} onInput=${(e) => setPrompt(e.target.value)}></textarea>
      <p><button class="primary" type="submit" disabled=${state.busy || !prompt.trim()}>Generate</button></p>
      <${Status} state=${state} />
      ${out && html`<div class="muted">${out.model} · ${out.finish_reason}</div><div class="output" data-testid="output">${out.text}</div>`}
    </form>`;
}
