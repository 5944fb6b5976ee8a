// Console shell: login, the signed-in user's permissions, navigation between the views (URL fragment).
import { render, useEffect, useState } from '../vendor/preact-htm.mjs';
import { api } from './api.js';
import { auth, finishOidcLogin, loadConfig, logout, startOidcLogin } from './auth.js';
import { can, html } from './ui.js';
import { AdapterManager } from './views/adapters.js';
import { Completions } from './views/completions.js';
import { DatasetExplorer } from './views/datasets.js';
import { LearningLoop } from './views/learning.js';
import { Playground } from './views/playground.js';
import { TrainingMonitor } from './views/training.js';

const VIEWS = [
  { id: 'datasets', title: 'Datasets', permission: 'datasets:read', View: DatasetExplorer },
  { id: 'training', title: 'Training', permission: 'training:read', View: TrainingMonitor },
  { id: 'adapters', title: 'Adapters', permission: 'adapters:read', View: AdapterManager },
  { id: 'learning', title: 'Learning loop', permission: 'training:read', View: LearningLoop },
  { id: 'playground', title: 'Playground', permission: 'serving:generate', View: Playground },
  { id: 'completions', title: 'Completions', permission: 'completions:read', View: Completions },
];

const currentRoute = () => location.hash.replace(/^#\/?/, '') || 'datasets';

function Login({ config, reason }) {
  const [token, setToken] = useState('');
  const oidc = config.oidc;
  return html`<div class="card login">
    <h2>Log in to CLARA</h2>
    ${reason && html`<p class="error" role="alert">${reason}</p>`}
    ${oidc && html`<p>Log in with your organisation's account (${new URL(oidc.issuer).host}).</p>
      <button class="primary" data-testid="oidc-login" onClick=${() => startOidcLogin(oidc)}>Log in with single sign-on</button>`}
    ${config.token_login && html`<form onSubmit=${(e) => { e.preventDefault(); auth.set(token.trim()); }}>
      <p class="muted">Development mode: paste a token (make one with <code>python -m clara_ray.security.devtoken</code>).</p>
      <textarea name="token" data-testid="token-input" placeholder="eyJ…" value=${token}
        onInput=${(e) => setToken(e.target.value)}></textarea>
      <p><button class="primary" type="submit" disabled=${!token.trim()}>Log in</button></p></form>`}
    ${!oidc && !config.token_login && html`<p class="error">This API accepts no interactive login (mode ${config.mode}).</p>`}
  </div>`;
}

function App() {
  const [config, setConfig] = useState(null);
  const [me, setMe] = useState(null);
  const [problem, setProblem] = useState(null);
  const [route, setRoute] = useState(currentRoute());

  const whoAmI = async (reason = null) => {
    setMe(null);
    if (reason) setProblem(reason);
    if (!auth.token() && config?.mode !== 'off') return;
    try { setMe(await api('/api/me')); setProblem(null); } catch (e) { setProblem(e.message); }
  };

  useEffect(() => {
    (async () => {
      try {
        const cfg = await loadConfig();
        setConfig(cfg);
        const failed = await finishOidcLogin(cfg.oidc);
        if (failed) setProblem(failed);
        setRoute(currentRoute());  // the login return restored the view's fragment without a hashchange
      } catch (e) { setProblem(e.message); }
    })();
    const onHash = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => { if (config) whoAmI(); }, [config]);
  useEffect(() => auth.onChange((reason) => whoAmI(reason)), [config]);

  if (!config) return html`<p class="boot">${problem || 'Loading…'}</p>`;
  if (!me) return html`<${Login} config=${config} reason=${problem} />`;
  const views = VIEWS.filter((v) => can(me, v.permission));
  const active = views.find((v) => v.id === route) || views[0];
  return html`
    <header>
      <span class="brand">CLARA</span>
      <nav>${views.map((v) => html`<a href="#/${v.id}" class=${v === active ? 'active' : ''}>${v.title}</a>`)}</nav>
      <span class="who" data-testid="who">${me.name} · ${me.roles.join(', ') || 'no roles'}
        ${config.mode !== 'off' && html`<button onClick=${() => logout(config)}>Log out</button>`}</span>
    </header>
    ${config.mode === 'off' && html`<div class="banner">Security mode "off": everyone is admin. For local development only.</div>`}
    <main>${active ? html`<${active.View} me=${me} key=${active.id} />`
                   : html`<p class="card">Your roles (${me.roles.join(', ') || 'none'}) give access to no view of this console.</p>`}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));
