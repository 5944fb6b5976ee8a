// One assistant answer in the playground: streamed in, the version that served it, and feedback on it by completion id.
import { useState } from '../../vendor/preact-htm.mjs';
import { api } from '../api.js';
import { streamChat } from '../stream.js';
import { html, Status, useAction } from '../ui.js';

// Streams the answer to `request`, handing each new state of the turn to update(turn); resolves to the last one.
export async function answer(request, update, signal) {
  let turn = { role: 'assistant', content: '', streaming: true, id: null, version: null, finish_reason: null, error: null };
  const set = (patch) => { turn = { ...turn, ...patch }; update(turn); };
  set({});
  try {
    const done = await streamChat(request, {
      signal,
      onStart: (o) => set({ version: o.version }),
      onDelta: (delta, o) => set({ content: turn.content + delta, id: o.id }),
    });
    set({ ...done, streaming: false });
  } catch (e) {
    set({ streaming: false, error: e.name === 'AbortError' ? 'stopped' : e.message, id: e.partial?.id ?? turn.id });
  }
  return turn;
}

export const MaxTokens = ({ value, onChange }) => html`<label>Max tokens
  <input type="number" name="max_tokens" min="1" size="5" value=${value} onInput=${(e) => onChange(e.target.value)} /></label>`;

// Enter sends, Shift+Enter starts a new line.
export const sendOnEnter = (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); e.target.form.requestSubmit(); }
};

export function Answer({ turn, testid = 'answer' }) {
  return html`<div class="turn assistant" data-testid=${testid} data-state=${turn.streaming ? 'streaming' : 'done'}
      data-completion=${turn.id || ''}>
    <div class="output">${turn.content}${turn.streaming && html`<span class="cursor">▍</span>`}</div>
    <div class="muted meta">served by <span data-testid="served-version">${turn.version || '–'}</span>
      ${turn.finish_reason && ` · ${turn.finish_reason}`}${turn.id && html` · <code>${turn.id}</code>`}</div>
    ${turn.error && html`<div class="error" role="alert">${turn.error}</div>`}
    ${turn.id && !turn.streaming && !turn.error && (turn.version?.includes('@')  // name@vN: an adapter answered
      ? html`<${FeedbackBar} completionId=${turn.id} />`
      : html`<div class="muted">The base model answered: there is no adapter to learn from feedback.</div>`)}
  </div>`;
}

// Thumbs up = rating 1, thumbs down = rating 0, a correction = rating 0 plus the better answer to train on.
// The server takes one feedback per completion, so once it has answered the choice is made.
function FeedbackBar({ completionId }) {
  const [given, setGiven] = useState(null);
  const [correcting, setCorrecting] = useState(false);
  const [text, setText] = useState('');
  const [run, state] = useAction();
  const send = (rating, correction) => run(() => api('/api/feedback', {
    method: 'POST', body: { completion_id: completionId, rating, source: 'console', ...(correction ? { correction } : {}) },
  }).then((result) => { setGiven({ rating, correction, result }); setCorrecting(false); }));
  const correct = (e) => { e.preventDefault(); send(0, text.trim()); };
  const off = state.busy || !!given;
  const r = given?.result;
  return html`<div class="feedback" data-testid="feedback">
    <button aria-label="Thumbs up" title="Good answer" aria-pressed=${given?.rating === 1}
      disabled=${off} onClick=${() => send(1)}>👍 Good</button>
    <button aria-label="Thumbs down" title="Bad answer" aria-pressed=${given?.rating === 0 && !given.correction}
      disabled=${off} onClick=${() => send(0)}>👎 Bad</button>
    <button disabled=${off} aria-pressed=${!!given?.correction} aria-expanded=${correcting}
      onClick=${() => setCorrecting(!correcting)}>Correct this answer</button>
    ${r && html`<span class=${r.accepted ? 'ok' : 'muted'} role="status" data-testid="feedback-result">
      ${given.correction ? 'Correction' : 'Feedback'} ${r.accepted ? 'accepted'
        : r.rating_recorded ? `recorded as a rating, not trained on: ${r.reason}` : `not accepted: ${r.reason}`}</span>`}
    ${correcting && html`<form class="correction" onSubmit=${correct}>
      <textarea name="correction" placeholder="The answer it should have given…" value=${text}
        onInput=${(e) => setText(e.target.value)}></textarea>
      <button class="primary" type="submit" disabled=${state.busy || !text.trim()}>Send correction</button></form>`}
    <${Status} state=${state} />
  </div>`;
}
