// Streaming chat completions: POST /v1/chat/completions with `stream: true`, read the SSE body as it arrives.
import { ApiError } from './api.js';
import { auth } from './auth.js';

// Calls onDelta(text) for each piece of the answer; resolves to {id, version, finish_reason}. `version` comes from
// the x-clara-model-version header: the exact version that answered, which an alias alone does not tell.
export async function streamChat({ model, messages, max_tokens }, { onStart = () => {}, onDelta, signal } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  const token = auth.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch('/v1/chat/completions', {
    method: 'POST', headers, signal, body: JSON.stringify({ model, messages, max_tokens, stream: true }),
  });
  if (res.status === 401) auth.expired();
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  const out = { id: null, version: res.headers.get('x-clara-model-version'), finish_reason: null };
  onStart(out);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop();  // an incomplete last line waits for the next piece
    for (const line of lines) {
      const data = line.replace(/\r$/, '');
      if (!data.startsWith('data:')) continue;
      const payload = data.slice(5).trim();
      if (payload === '[DONE]') return out;
      const chunk = JSON.parse(payload);
      if (chunk.error) throw Object.assign(new Error(chunk.error.message || 'generation failed'), { partial: out });
      out.id = chunk.id || out.id;
      const choice = chunk.choices?.[0];
      if (choice?.delta?.content) onDelta(choice.delta.content, out);
      if (choice?.finish_reason) out.finish_reason = choice.finish_reason;
    }
  }
}
