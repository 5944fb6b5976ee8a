// Side by side: one prompt sent to two models at once, both answers streaming in their own column with their own thumbs.
import { useState } from '../../vendor/preact-htm.mjs';
import { html, Select } from '../ui.js';
import { Answer, answer, MaxTokens, sendOnEnter } from './answer.js';

export function SideBySide({ options }) {
  const first = options[0]?.[0] || '';
  const [models, setModels] = useState([first, options[1]?.[0] || first]);
  const [maxTokens, setMaxTokens] = useState(64);
  const [prompt, setPrompt] = useState('');
  const [answers, setAnswers] = useState([null, null]);
  const [round, setRound] = useState(0);  // a new prompt gets fresh answers (and fresh feedback buttons)
  const busy = answers.some((t) => t?.streaming);
  const send = (e) => {
    e.preventDefault();
    if (busy || !prompt.trim()) return;
    const messages = [{ role: 'user', content: prompt.trim() }];
    setRound(round + 1);
    models.forEach((model, i) => answer({ model, messages, max_tokens: Number(maxTokens) },
      (turn) => setAnswers((now) => now.map((t, j) => (j === i ? turn : t)))));
  };
  const pick = (i) => (value) => setModels(models.map((m, j) => (j === i ? value : m)));
  return html`<div class="card" data-testid="side-by-side">
    <h2>Side by side</h2>
    <form onSubmit=${send}>
      <textarea name="prompt" placeholder="One prompt for both models" value=${prompt}
        onInput=${(e) => setPrompt(e.target.value)} onKeyDown=${sendOnEnter}></textarea>
      <p><${MaxTokens} value=${maxTokens} onChange=${setMaxTokens} />
        <button class="primary" type="submit" disabled=${busy || !prompt.trim()}>Send to both</button></p>
    </form>
    <div class="columns">${[0, 1].map((i) => html`<div class="column" data-testid="column-${i}" key=${i}>
      <label>Model ${i ? 'B' : 'A'}<${Select} name="model-${i}" testid="compare-model-${i}" value=${models[i]}
        onChange=${pick(i)} options=${options} /></label>
      ${answers[i] ? html`<${Answer} key=${round} turn=${answers[i]} />` : html`<p class="muted">No answer yet.</p>`}
    </div>`)}</div>
  </div>`;
}
