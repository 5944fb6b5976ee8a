// Who is logged in: the token (kept per browser tab), dev-mode token paste, and the OIDC authorization-code + PKCE flow.

const TOKEN = 'clara.token';
const PKCE = 'clara.pkce';
const listeners = new Set();

export const auth = {
  token: () => sessionStorage.getItem(TOKEN),
  set(token, reason = null) {
    if (token) sessionStorage.setItem(TOKEN, token); else sessionStorage.removeItem(TOKEN);
    listeners.forEach((fn) => fn(reason));
  },
  // Called on any 401: the token is missing, expired or revoked; the app shows the login page again.
  expired() { if (auth.token()) auth.set(null, 'Your session has expired; log in again.'); },
  onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); },
};

export async function loadConfig() {
  const res = await fetch('/console/config.json');
  if (!res.ok) throw new Error(`console config: HTTP ${res.status}`);
  return res.json();
}

const redirectUri = () => `${location.origin}/console/`;

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

// Step 1: send the browser to the identity provider (RFC 7636 PKCE: no client secret in the page).
export async function startOidcLogin(oidc) {
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, hash: location.hash }));
  const q = new URLSearchParams({
    response_type: 'code', client_id: oidc.client_id, redirect_uri: redirectUri(), scope: oidc.scope,
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(`${oidc.authorization_endpoint}?${q}`);
}

// Step 2, on return: trade the code for tokens at the token endpoint. Returns an error message or null.
export async function finishOidcLogin(oidc) {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PKCE) || 'null');
  sessionStorage.removeItem(PKCE);
  history.replaceState(null, '', `/console/${pending?.hash || ''}`);  // drop ?code=... from the address bar
  if (q.has('error')) return `login refused by the identity provider: ${q.get('error_description') || q.get('error')}`;
  if (!oidc || !pending || pending.state !== q.get('state')) return 'login response does not match this tab; try again';
  const res = await fetch(oidc.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectUri(),
      client_id: oidc.client_id, code_verifier: pending.verifier,
    }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) return `token exchange failed: ${body.error_description || body.error || res.status}`;
  auth.set(body.access_token);
  return null;
}

export function logout(config) {
  auth.set(null);
  const end = config?.oidc?.logout_endpoint;
  if (end) location.assign(`${end}?${new URLSearchParams({ post_logout_redirect_uri: redirectUri(), client_id: config.oidc.client_id })}`);
}
