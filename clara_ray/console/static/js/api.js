// HTTP and WebSocket client of the CLARA API: adds the user's token, turns error bodies into readable messages.
import { auth } from './auth.js';

export class ApiError extends Error {
  constructor(status, body) {
    super(readable(status, body));
    this.status = status;
    this.body = body;
  }
}

// The API answers {"error", "detail"}; a 422's detail is a list of {field, message}.
function readable(status, body) {
  if (!body) return `HTTP ${status}`;
  if (Array.isArray(body.detail)) return body.detail.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('\n');
  if (body.missing_permission) return `not allowed: your role lacks ${body.missing_permission}`;
  return body.detail || body.error || `HTTP ${status}`;
}

// `body` is sent as JSON; `form` (FormData) as multipart, for file uploads.
export async function api(path, { method = 'GET', body, form, raw = false } = {}) {
  const headers = {};
  const token = auth.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const payload = form ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await fetch(path, { method, headers, body: payload });
  if (res.status === 401) auth.expired();
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return raw ? res : res.json();
}

// Download a response as a file (export): fetch with the token, then hand the blob to the browser.
export async function download(path, body) {
  const res = await api(path, { method: 'POST', body, raw: true });
  const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '')?.[1] || 'download';
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  return name;
}

// Live events of a WebSocket route. Reconnects with `after` = the last sequence seen, so a dropped connection
// loses nothing the server still holds. Returns a function that closes it for good.
export function subscribe(path, onEvent, { params = {}, onState = () => {} } = {}) {
  let ws;
  let after = null;
  let closed = false;
  let retries = 0;
  const open = () => {
    const q = new URLSearchParams(params);
    if (after !== null) q.set('after', after);
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}?${q}`);
    ws.onopen = () => {
      const token = auth.token();  // browsers cannot set headers on a WebSocket: the first message authenticates
      if (token) ws.send(JSON.stringify({ type: 'auth', token }));
      retries = 0;
      onState('live');
    };
    ws.onmessage = (m) => {
      const event = JSON.parse(m.data);
      if (event.seq != null) after = event.seq;
      if (event.type !== 'heartbeat') onEvent(event);
    };
    ws.onclose = () => {
      if (closed) return;
      onState('reconnecting');
      setTimeout(open, Math.min(10000, 500 * 2 ** retries++));
    };
  };
  open();
  return () => { closed = true; ws.close(); };
}
