// Shared pieces of the console's views: formatting, an action hook with error display, badges, a chart.
import { html, useCallback, useEffect, useRef, useState } from '../vendor/preact-htm.mjs';
import uPlot from '../vendor/uplot.mjs';

export { html };

export const can = (me, permission) => me.permissions.includes('*') || me.permissions.includes(permission);

export function fmtNum(v, digits = 4) {
  if (v === null || v === undefined || v === '') return '–';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v) || Math.abs(v) >= 1e4) return Math.round(v).toLocaleString('en');
  return Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : String(Number(v.toPrecision(digits)));
}

export function fmtDate(iso) {
  return iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'medium' }) : '–';
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return '–';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export const Badge = ({ value }) => html`<span class="badge ${value}">${value}</span>`;

export const Progress = ({ value }) =>
  html`<span class="progress" title="${Math.round(value * 100)}%"><div style=${{ width: `${Math.round(value * 100)}%` }}></div></span>`;

// run(fn): calls fn, tracks busy, keeps the error message (from ApiError) or a success message for display.
export function useAction() {
  const [state, setState] = useState({ busy: false, error: null, message: null });
  const run = useCallback(async (fn, success = null) => {
    setState({ busy: true, error: null, message: null });
    try {
      const out = await fn();
      setState({ busy: false, error: null, message: typeof success === 'function' ? success(out) : success });
      return out;
    } catch (e) {
      setState({ busy: false, error: e.message || String(e), message: null });
      return undefined;
    }
  }, []);
  return [run, state];
}

export const Status = ({ state }) => html`
  ${state.error && html`<div class="error" role="alert">${state.error}</div>`}
  ${state.message && html`<div class="ok" role="status">${state.message}</div>`}`;

// Loads `fn()` when `deps` change; returns [data, reload, error].
export function useLoad(fn, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reload = useCallback(() => fn().then((d) => { setData(d); setError(null); }, (e) => setError(e.message)), deps);
  useEffect(() => { reload(); }, [reload]);
  return [data, reload, error];
}

// A line chart (uPlot) of `points` = [[x, y], ...]; redrawn in place when the points change.
export function Chart({ title, points, xLabel = 'step', testid }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(200, box.current.clientWidth || 300);
    plot.current = new uPlot({
      width, height: 180, legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: xLabel, size: 36 }, { size: 56 }],
      series: [{}, { label: title, stroke: '#2f5bea', width: 2, points: { show: points.length < 40 } }],
    }, [[], []], box.current);
    // Follow the card's width (window resizes, the side panel appearing).
    const resize = new ResizeObserver(() => {
      const w = Math.max(200, box.current.clientWidth);
      if (Math.abs(w - plot.current.width) > 4) plot.current.setSize({ width: w, height: 180 });
    });
    resize.observe(box.current);
    return () => { resize.disconnect(); plot.current.destroy(); };
  }, []);
  useEffect(() => {
    plot.current.setData([points.map((p) => p[0]), points.map((p) => p[1])]);
  }, [points]);
  return html`<div class="chart" data-testid=${testid} data-points=${points.length}>
    <div class="title">${title} <span class="muted">(${points.length} points${points.length ? `, last ${fmtNum(points[points.length - 1][1])}` : ''})</span></div>
    ${!points.length && html`<div class="muted">No points yet.</div>`}
    <div ref=${box}></div></div>`;
}

// <select> whose options mark themselves selected (a select's `value` can be applied before its options exist).
// options: [value, label] pairs or plain strings.
export const Select = ({ name, value, onChange, options, testid }) => html`
  <select name=${name} data-testid=${testid} onChange=${(e) => onChange(e.target.value)}>
    ${options.map((o) => {
      const [v, label] = Array.isArray(o) ? o : [String(o), String(o)];
      return html`<option value=${v} selected=${v === String(value)}>${label}</option>`;
    })}
  </select>`;
