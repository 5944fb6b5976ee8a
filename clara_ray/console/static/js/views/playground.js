// Playground: a streamed multi-turn chat with an alias or an exact version, or one prompt to two models side by side.
import { useRef, useState } from '../../vendor/preact-htm.mjs';
import { api } from '../api.js';
import { html, Select, useLoad } from '../ui.js';
import { Answer, answer, MaxTokens, sendOnEnter } from './answer.js';
import { SideBySide } from './sidebyside.js';

const KIND_ORDER = { alias: 0, version: 1, base: 2 };

// /v1/models as [value, label] pairs: aliases first (what users call), then exact versions, then the base model.
function modelOptions(models) {
  return models.filter((m) => m.servable !== false)  // rejected, archived and unloaded versions are refused
    .sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.id.localeCompare(b.id))
    .map((m) => [m.id, m.kind === 'alias' ? `${m.id} (alias → ${m.version})`
      : m.kind === 'base' ? `${m.id} (base model)` : `${m.id}${m.status ? ` (${m.status})` : ''}`]);
}

export function Playground() {
  const [models, , error] = useLoad(() => api('/v1/models').then((r) => modelOptions(r.data)));
  const [mode, setMode] = useState('chat');
  if (error) return html`<div class="card error">${error}</div>`;
  if (!models) return html`<p class="muted">Loading models…</p>`;
  const tab = (id, title) => html`<button class=${mode === id ? 'active' : ''} aria-pressed=${mode === id}
    onClick=${() => setMode(id)}>${title}</button>`;
  return html`
    <div class="tabs">${tab('chat', 'Chat')}${tab('compare', 'Side by side')}</div>
    ${mode === 'chat' ? html`<${Chat} options=${models} />` : html`<${SideBySide} options=${models} />`}`;
}

function Chat({ options }) {
  const [model, setModel] = useState(options[0]?.[0] || '');
  const [maxTokens, setMaxTokens] = useState(64);
  const [turns, setTurns] = useState([]);
  const [draft, setDraft] = useState('');
  const stop = useRef(null);
  const busy = turns.some((t) => t.streaming);
  const send = async (e) => {
    e.preventDefault();
    if (busy || !draft.trim()) return;  // Enter in the textarea submits even while the button is disabled
    const asked = [...turns.filter((t) => t.content), { role: 'user', content: draft.trim() }];
    setDraft('');
    stop.current = new AbortController();
    const messages = asked.map(({ role, content }) => ({ role, content }));
    await answer({ model, messages, max_tokens: Number(maxTokens) }, (turn) => setTurns([...asked, turn]), stop.current.signal);
  };
  return html`<div class="card chat" data-testid="chat">
    <h2>Chat</h2>
    <label>Model<${Select} name="model" testid="chat-model" value=${model} onChange=${setModel} options=${options} /></label>
    <${MaxTokens} value=${maxTokens} onChange=${setMaxTokens} />
    <button disabled=${busy || !turns.length} onClick=${() => setTurns([])}>New conversation</button>
    <div class="turns" data-testid="turns">
      ${turns.map((t, i) => (t.role === 'user'
        ? html`<div class="turn user" key=${i}>${t.content}</div>`
        : html`<${Answer} key=${i} turn=${t} />`))}
      ${!turns.length && html`<p class="muted">Ask something to start the conversation.</p>`}
    </div>
    <form onSubmit=${send}>
      <textarea name="message" placeholder="Your message (Enter sends, Shift+Enter for a new line)" value=${draft}
        onInput=${(e) => setDraft(e.target.value)} onKeyDown=${sendOnEnter}></textarea>
      <p><button class="primary" type="submit" disabled=${busy || !draft.trim() || !model}>Send</button>
        ${busy && html` <button type="button" onClick=${() => stop.current?.abort()}>Stop</button>`}</p>
    </form>
  </div>`;
}
