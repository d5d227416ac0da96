/**
 * The labelling page of `edgeloom label`: plain HTML and a script served from the same origin (the
 * CSP allows no inline script). The session token and class list travel in a JSON data block.
 */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function labelPage(token: string, classes: readonly string[], folder: string): string {
  // `<` escaped so that no class name can close the data block.
  const cfg = JSON.stringify({ token, classes }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgeloom label</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #111418; color: #e6e6e6; }
  header { padding: 10px 16px; background: #1b2028; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; } header span { color: #9aa4b2; font-size: 13px; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 16px; padding: 16px; }
  .card { background: #1b2028; border-radius: 8px; padding: 12px; }
  #photo { max-width: 100%; max-height: 70vh; display: block; margin: auto; image-rendering: auto; }
  #classes button { display: block; width: 100%; text-align: left; margin: 3px 0; padding: 6px 8px; border: 1px solid #2c3440;
    background: #232a34; color: inherit; border-radius: 5px; cursor: pointer; font-size: 14px; }
  #classes button.selected { border-color: #4aa3ff; background: #1d3550; }
  #classes kbd, footer kbd { background: #2c3440; border-radius: 3px; padding: 0 5px; margin-right: 6px; }
  #guess, #status { color: #9aa4b2; font-size: 13px; margin: 8px 0; } #status.error { color: #ff6b6b; }
  footer { padding: 0 16px 16px; color: #9aa4b2; font-size: 13px; }
</style></head>
<body>
<header><h1>edgeloom label</h1><span>${escapeHtml(folder)}</span><span id="progress"></span></header>
<main>
  <section class="card"><img id="photo" alt="photo to label"><div id="name" style="color:#9aa4b2;font-size:12px;margin-top:6px"></div></section>
  <aside class="card"><div id="guess"></div><div id="classes"></div><div id="status" role="status"></div></aside>
</main>
<footer><kbd>1</kbd>..<kbd>9</kbd><kbd>0</kbd> class &nbsp; <kbd>Enter</kbd> accept selected (the model's guess) &nbsp;
<kbd>↑</kbd><kbd>↓</kbd> change selection &nbsp; <kbd>s</kbd> skip &nbsp; <kbd>←</kbd><kbd>→</kbd> previous / next &nbsp; <kbd>u</kbd> undo</footer>
<script type="application/json" id="config">${cfg}</script>
<script src="/app.js"></script>
</body></html>
`;
}

/** Runs in the browser: keeps a list of unlabelled photos, posts moves with the session token. */
export const LABEL_SCRIPT = `'use strict';
const cfg = JSON.parse(document.getElementById('config').textContent);
const $ = (id) => document.getElementById(id);
let items = [], index = 0, selected = 0, busy = false;

function setStatus(text, error) { $('status').textContent = text; $('status').className = error ? 'error' : ''; }

async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-edgeloom-token': cfg.token }, body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function render() {
  $('progress').textContent = items.length ? (index + 1) + ' of ' + items.length + ' unlabelled' : 'nothing left to label';
  const item = items[index];
  const list = $('classes');
  list.replaceChildren();
  if (!item) { $('photo').removeAttribute('src'); $('name').textContent = ''; $('guess').textContent = ''; return; }
  $('photo').src = '/photo/' + encodeURIComponent(item.name);
  $('name').textContent = item.name;
  $('guess').textContent = item.label === null ? 'no guess stored' : 'model: ' + item.label + ' ' + (item.confidence * 100).toFixed(1) + '%'
    + (item.top.length > 1 ? ' (then ' + item.top.slice(1).map((t) => t.label + ' ' + (t.confidence * 100).toFixed(0) + '%').join(', ') + ')' : '');
  cfg.classes.forEach((name, i) => {
    const b = document.createElement('button');
    b.dataset.index = String(i);
    if (i < 10) { const k = document.createElement('kbd'); k.textContent = String((i + 1) % 10); b.append(k); }
    b.append(document.createTextNode(name));
    if (i === selected) b.className = 'selected';
    b.addEventListener('click', () => choose(i));
    list.append(b);
  });
}

function show(i) {
  index = Math.max(0, Math.min(i, items.length - 1));
  const item = items[index];
  const guess = item ? cfg.classes.indexOf(item.label) : -1;
  selected = guess >= 0 ? guess : 0;
  render();
}

async function choose(i) {
  const item = items[index];
  if (!item || busy) return;
  busy = true;
  try {
    await post('/api/label', { name: item.name, class: cfg.classes[i] });
    items.splice(index, 1);
    setStatus(item.name + ' -> ' + cfg.classes[i]);
    show(index);
  } catch (err) { setStatus(err.message, true); } finally { busy = false; }
}

async function undo() {
  if (busy) return;
  busy = true;
  try {
    const r = await post('/api/undo', {});
    await load(r.restored);
    setStatus('undone: ' + r.restored + ' back from ' + r.from);
  } catch (err) { setStatus(err.message, true); } finally { busy = false; }
}

async function load(focus) {
  const res = await fetch('/api/items');
  items = (await res.json()).items;
  const at = items.findIndex((it) => it.name === focus);
  show(at >= 0 ? at : index);
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (/^[0-9]$/.test(e.key)) { const i = (Number(e.key) + 9) % 10; if (i < cfg.classes.length) choose(i); }
  else if (e.key === 'Enter') choose(selected);
  else if (e.key === 's' || e.key === 'ArrowRight') show(index + 1 < items.length ? index + 1 : index);
  else if (e.key === 'ArrowLeft') show(index - 1);
  else if (e.key === 'ArrowDown') { selected = Math.min(selected + 1, cfg.classes.length - 1); render(); }
  else if (e.key === 'ArrowUp') { selected = Math.max(selected - 1, 0); render(); }
  else if (e.key === 'u') undo();
  else return;
  e.preventDefault();
});

load().then(() => { document.body.dataset.ready = 'true'; }).catch((err) => setStatus(err.message, true));
`;
