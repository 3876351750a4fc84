// app.js — the editor page: sign-in, the container's webtasks, the code
// panel, runner, logs, secrets and settings. It talks to the server's public
// API only; the token stays in this tab's sessionStorage.
import { CodeEditor } from './highlight.js?v=VERSION';
import { wasmInfo } from './wasminfo.js?v=VERSION';

const $ = id => document.getElementById(id);
const TOKEN_KEY = 'wasmtask.token';
const TEMPLATE = `module.exports = function(context, cb) {
  cb(null, { hello: context.query.name || 'Anonymous' });
};
`;
const MAX_LOG_LINES = 2000;
const MAX_HISTORY = 30;

const state = {
  token: '',
  container: '',
  name: '',
  webtasks: [],
  current: null, // the open webtask's description
  dirty: false,
  logs: [],
  paused: false,
  held: 0, // lines that came in while paused and will show on resume
  source: null,
};

let editor;

// ---- start ------------------------------------------------------------------

/**
 * where reads the container, webtask and token from the address. The path
 * /edit/{container}[/{name}] names the container and the webtask; the
 * fragment carries the token: "#token=T" (with optional "&name=N"), or
 * wt-cli's `wt edit` form "#/[{name}/]{token}", whose name, when given,
 * names the webtask. In that form the path may also be
 * /edit/{v1|v2|canary}/{container}, the editor version wt-cli can put
 * before the container.
 */
function where() {
  const segs = location.pathname.replace(/^\/edit\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const frag = location.hash.slice(1);
  const wtEdit = frag.startsWith('/');
  if (wtEdit && segs.length === 2 && /^(v1|v2|canary)$/.test(segs[0])) segs.shift();
  let [container = '', name = ''] = segs;
  let token = '';
  if (wtEdit) {
    const parts = frag.slice(1).split('/').filter(Boolean).map(decodeURIComponent);
    token = parts.pop() || '';
    if (parts.length) name = parts[0];
  } else if (frag) {
    const p = new URLSearchParams(frag);
    token = p.get('token') || p.get('key') || '';
    name = p.get('name') || name;
  }
  return { container, name, token };
}

function start() {
  editor = new CodeEditor($('code'), $('highlight'), $('gutter'));
  editor.onChange = () => setDirty(true);
  wire();
  const w = where();
  if (w.token) sessionStorage.setItem(TOKEN_KEY, w.token);
  state.token = sessionStorage.getItem(TOKEN_KEY) || '';
  state.container = w.container;
  state.name = w.name;
  setAddress(); // drops the fragment: the token leaves the address bar and history
  if (!state.token || !state.container) {
    signIn(state.container ? '' : 'Which container do you want to edit?');
    return;
  }
  openContainer();
}

function setAddress() {
  const path = '/edit/' + [state.container, state.name].filter(Boolean).map(encodeURIComponent).join('/');
  history.replaceState(null, '', path);
}

function signIn(why) {
  $('signin-why').textContent = why || 'Paste a token of this server for this container.';
  $('signin-container').value = state.container;
  $('signin-token').value = '';
  if (!$('signin').open) $('signin').showModal();
  (state.container ? $('signin-token') : $('signin-container')).focus();
}

async function openContainer() {
  $('where').textContent = state.container;
  document.title = state.container + ' · wasmtask editor';
  connectLogs();
  if (await loadList() && state.name) await openWebtask(state.name);
}

// ---- API ---------------------------------------------------------------------

/** api calls the server with the token; throws an Error with status and message. */
async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + state.token };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) {
    const err = new Error((data && data.message) || text || r.statusText);
    err.status = r.status;
    err.data = data;
    if (r.status === 401) signIn('The server refused the token: ' + err.message);
    throw err;
  }
  return data;
}

const wtPath = (name, suffix = '') =>
  `/api/webtask/${encodeURIComponent(state.container)}/${encodeURIComponent(name)}${suffix}`;

function say(msg, kind = 'ok') {
  const s = $('status');
  s.textContent = msg;
  s.className = 'status ' + kind;
}

// ---- the list ----------------------------------------------------------------

async function loadList() {
  let list;
  try {
    list = await api('GET', `/api/webtask/${encodeURIComponent(state.container)}`);
  } catch (e) {
    const ul = $('webtasks');
    ul.replaceChildren(li('error', e.message));
    say(`Cannot open container ${state.container}: ${e.message}`, 'error');
    $('new').disabled = true;
    return false;
  }
  state.webtasks = list;
  $('new').disabled = false;
  if ($('status').classList.contains('error')) say('');
  renderList();
  return true;
}

function li(cls, text) {
  const e = document.createElement('li');
  e.className = cls;
  e.textContent = text;
  return e;
}

function renderList() {
  const ul = $('webtasks');
  ul.replaceChildren();
  if (!state.webtasks.length) ul.append(li('none', 'No webtasks yet.'));
  for (const w of state.webtasks) {
    const item = document.createElement('li');
    item.className = 'webtask' + (w.name === state.name ? ' current' : '');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'open';
    if (w.name === state.name) open.setAttribute('aria-current', 'page');
    const title = document.createElement('span');
    title.className = 'name';
    title.textContent = w.name;
    const facts = document.createElement('span');
    facts.className = 'facts-line';
    facts.textContent = w.damaged ? 'damaged' :
      `${w.language === 'javascript' ? 'JS' : 'Wasm'} · ${size(w.size)} · ${w.policy} · ${when(w.updated)}`;
    open.append(title, facts);
    open.addEventListener('click', () => openWebtask(w.name));
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'del quiet';
    del.textContent = '✕';
    del.title = 'Delete ' + w.name;
    del.setAttribute('aria-label', 'Delete ' + w.name);
    del.addEventListener('click', () => confirmThen(del, 'Delete?', () => deleteWebtask(w.name)));
    item.append(open, del);
    ul.append(item);
  }
  const sel = $('log-name');
  const keep = sel.value;
  sel.replaceChildren(new Option('all', ''), new Option('this one', '='), ...state.webtasks.map(w => new Option(w.name, w.name)));
  sel.value = keep;
}

/** confirmThen asks for a second click on button before doing act. */
function confirmThen(button, ask, act) {
  if (button.dataset.armed) { delete button.dataset.armed; act(); return; }
  const text = button.textContent;
  button.dataset.armed = '1';
  button.textContent = ask;
  button.classList.add('danger');
  setTimeout(() => {
    delete button.dataset.armed;
    button.textContent = text;
    button.classList.remove('danger');
  }, 4000);
}

async function deleteWebtask(name) {
  try {
    await api('DELETE', wtPath(name));
  } catch (e) { say(`Delete ${name}: ${e.message}`, 'error'); return; }
  say(`Deleted ${name}.`);
  if (name === state.name) closeWebtask();
  await loadList();
}

function size(n) {
  if (n < 1024) return n + ' B';
  if (n < 1 << 20) return (n / 1024).toFixed(1) + ' KB';
  return (n / (1 << 20)).toFixed(1) + ' MB';
}

function when(t) {
  const d = new Date(t);
  const s = (Date.now() - d) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return d.toLocaleDateString();
}

// ---- one webtask ---------------------------------------------------------------

async function openWebtask(name) {
  if (state.dirty && state.name !== name && !window.confirm(`Leave ${state.name} without saving?`)) return;
  let w;
  try {
    w = await api('GET', wtPath(name, '?fetch_code=1'));
  } catch (e) { say(`Open ${name}: ${e.message}`, 'error'); return; }
  state.name = name;
  state.current = w;
  setAddress();
  $('where').textContent = `${state.container} / ${name}`;
  document.title = `${name} · wasmtask editor`;
  $('empty').hidden = true;
  showError('');
  const js = w.language === 'javascript';
  $('js-editor').hidden = !js;
  $('code-help').hidden = !js;
  $('wasm-panel').hidden = js;
  if (js) editor.value = w.code || '';
  else showWasm(w);
  setDirty(false);
  $('save').disabled = !js;
  $('run').disabled = false;
  $('url').value = w.url || '';
  renderSecrets();
  renderSettings(true);
  renderHistory();
  renderList();
  renderLogs();
}

function closeWebtask() {
  state.name = '';
  state.current = null;
  setAddress();
  $('where').textContent = state.container;
  $('empty').hidden = false;
  $('js-editor').hidden = true;
  $('wasm-panel').hidden = true;
  $('save').disabled = $('run').disabled = true;
  $('url').value = '';
  setDirty(false);
}

function setDirty(d) {
  state.dirty = d;
  $('save').textContent = d ? 'Save •' : 'Save';
}

/** updated takes a webtask's new description after a change. */
function updated(w) {
  const code = state.current && state.current.code;
  state.current = Object.assign(w, { code: w.code || code });
  const i = state.webtasks.findIndex(x => x.name === w.name);
  if (i >= 0) state.webtasks[i] = w; else state.webtasks.push(w);
  renderList();
  renderSecrets();
  renderSettings(false); // the storage and schedule forms keep what is being typed
}

async function save() {
  if (!state.current || state.current.language !== 'javascript') return true;
  const code = editor.value;
  say('Saving…', 'busy');
  try {
    const w = await api('PATCH', wtPath(state.name), { code });
    updated(Object.assign(w, { code }));
  } catch (e) {
    showError(e.message);
    say(`Not saved: ${e.message}`, 'error');
    return false;
  }
  showError('');
  setDirty(false);
  say(`Saved ${state.name}.`);
  return true;
}

/** showError shows a save error under the code, and where it is. */
function showError(msg) {
  const box = $('save-error');
  box.textContent = msg;
  box.hidden = !msg;
  const at = /webtask\.js:(\d+):(\d+)/.exec(msg);
  editor.mark(at ? +at[1] : 0);
  if (at) editor.goTo(+at[1], +at[2]);
}

// ---- Wasm ------------------------------------------------------------------------

function b64ToBytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToB64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function showWasm(w) {
  const dl = $('wasm-facts');
  dl.replaceChildren();
  const fact = (k, v) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    dl.append(dt, dd);
  };
  let info;
  try { info = wasmInfo(b64ToBytes(w.code || '')); } catch (e) { info = null; fact('Module', 'cannot be read: ' + e.message); }
  fact('Size', size(w.size));
  fact('SHA-256', w.sha256);
  if (info) {
    fact('Language (guess)', info.language);
    fact('Exports', info.exports.map(e => e.name).join(', ') || 'none');
    if (info.producers['processed-by']) fact('Built by', info.producers['processed-by'].join(', '));
  }
  const ul = $('wasm-imports');
  ul.replaceChildren(...(info ? info.imports : []).map(i => li('', `${i.module}.${i.name} (${i.kind})`)));
  if (!ul.childElementCount) ul.append(li('none', 'none'));
}

async function readWasm(input) {
  const f = input.files[0];
  if (!f) throw new Error('choose a .wasm file');
  const bytes = new Uint8Array(await f.arrayBuffer());
  wasmInfo(bytes); // refuses what is not a module before it is sent
  return bytesToB64(bytes);
}

// ---- create ----------------------------------------------------------------------

function openCreate() {
  $('create-form').reset();
  $('create-wasm').hidden = true;
  $('create-error').hidden = true;
  $('create').showModal();
  $('create-name').focus();
}

async function create(e) {
  e.preventDefault();
  const name = $('create-name').value.trim();
  const err = msg => { $('create-error').textContent = msg; $('create-error').hidden = false; };
  if (!$('create-name').checkValidity()) return err("A name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
  if (state.webtasks.some(w => w.name === name)) return err(`There is already a webtask named ${name}.`);
  let code = TEMPLATE;
  try {
    if (document.querySelector('input[name=create-kind]:checked').value === 'wasm') code = await readWasm($('create-file'));
    await api('PUT', wtPath(name), { code });
  } catch (x) { return err(x.message); }
  $('create').close();
  say(`Created ${name}.`);
  await loadList();
  await openWebtask(name);
}

// ---- runner ----------------------------------------------------------------------

function kvRow(box, k = '', v = '') {
  const what = box.dataset.what;
  const n = box.childElementCount + 1;
  const row = document.createElement('div');
  row.className = 'kv-row';
  const key = document.createElement('input');
  key.className = 'k';
  key.value = k;
  key.placeholder = 'key';
  key.spellcheck = false;
  key.setAttribute('aria-label', `${what} ${n} name`);
  const val = document.createElement('input');
  val.className = 'v';
  val.value = v;
  val.placeholder = 'value';
  val.spellcheck = false;
  val.setAttribute('aria-label', `${what} ${n} value`);
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'quiet';
  del.textContent = '✕';
  del.setAttribute('aria-label', `Remove ${what} ${n}`);
  del.addEventListener('click', () => { row.remove(); if (!box.childElementCount) kvRow(box); });
  row.append(key, val, del);
  box.append(row);
  return row;
}

function kvRead(box) {
  return [...box.querySelectorAll('.kv-row')].map(r => [r.querySelector('.k').value.trim(), r.querySelector('.v').value])
    .filter(([k]) => k);
}

function kvWrite(box, pairs) {
  box.replaceChildren();
  for (const [k, v] of pairs) kvRow(box, k, v);
  if (!pairs.length) kvRow(box);
}

function historyKey() { return `wasmtask.runs.${state.container}/${state.name}`; }

function loadHistory() {
  try { return JSON.parse(sessionStorage.getItem(historyKey())) || []; } catch { return []; }
}

async function run() {
  if (!state.current) return;
  if (state.dirty && !(await save())) return;
  const spec = {
    method: $('run-method').value,
    params: kvRead($('run-params')),
    headers: kvRead($('run-headers')),
    body: $('run-body').value,
  };
  const q = new URLSearchParams(spec.params).toString();
  const path = `/api/run/${encodeURIComponent(state.container)}/${encodeURIComponent(state.name)}${q ? '?' + q : ''}`;
  const init = { method: spec.method, headers: spec.headers, cache: 'no-store' };
  if (!['GET', 'HEAD'].includes(spec.method) && spec.body) init.body = spec.body;
  $('run-submit').disabled = $('run').disabled = true;
  const began = performance.now();
  let r, text;
  try {
    r = await fetch(path, init);
    text = await r.text();
  } catch (e) {
    showResult({ status: 0, statusText: e.message, ms: performance.now() - began, headers: [], text: '' });
    return;
  } finally {
    $('run-submit').disabled = $('run').disabled = false;
  }
  const res = { status: r.status, statusText: r.statusText, ms: performance.now() - began, headers: [...r.headers], text };
  showResult(res);
  const h = loadHistory();
  h.unshift({ ...spec, status: r.status, ms: Math.round(res.ms), at: new Date().toISOString() });
  sessionStorage.setItem(historyKey(), JSON.stringify(h.slice(0, MAX_HISTORY)));
  renderHistory();
}

function showResult(res) {
  $('run-result').hidden = false;
  const badge = $('run-status');
  badge.textContent = res.status ? `${res.status}` : 'failed';
  badge.className = 'badge s' + String(res.status)[0];
  badge.title = res.statusText || '';
  $('run-time').textContent = `${res.ms.toFixed(0)} ms`;
  $('run-resp-headers').textContent = res.headers.map(([k, v]) => `${k}: ${v}`).join('\n');
  let out = res.text;
  try { if (out) out = JSON.stringify(JSON.parse(out), null, 2); } catch { /* text as it came */ }
  $('run-output').textContent = out || (res.status ? '(empty body)' : res.statusText);
  $('run-result').scrollIntoView({ block: 'nearest' });
}

function renderHistory() {
  const ol = $('run-history');
  ol.replaceChildren();
  for (const h of loadHistory()) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'again';
    const q = new URLSearchParams(h.params).toString();
    b.textContent = `${h.method} ${q ? '?' + q : '/'} → ${h.status}`;
    b.title = `${new Date(h.at).toLocaleTimeString()}, ${h.ms} ms — run again`;
    b.addEventListener('click', () => {
      $('run-method').value = h.method;
      kvWrite($('run-params'), h.params);
      kvWrite($('run-headers'), h.headers);
      $('run-body').value = h.body;
      run();
    });
    const item = document.createElement('li');
    item.append(b);
    ol.append(item);
  }
  if (!ol.childElementCount) ol.append(li('none', 'No runs yet.'));
}

// ---- logs ------------------------------------------------------------------------

function connectLogs() {
  if (state.source) state.source.close();
  const src = new EventSource(`/api/logs/tenant/${encodeURIComponent(state.container)}?key=${encodeURIComponent(state.token)}`);
  state.source = src;
  const st = $('log-state');
  st.textContent = 'connecting…';
  src.onopen = () => { st.textContent = 'live'; st.className = 'log-state live'; };
  src.onerror = () => {
    const closed = src.readyState === EventSource.CLOSED;
    st.textContent = closed ? 'disconnected' : 'reconnecting…';
    st.className = 'log-state down';
  };
  src.onmessage = e => {
    let rec;
    try { rec = JSON.parse(e.data); } catch { return; }
    state.logs.push(rec);
    if (state.logs.length > MAX_LOG_LINES) state.logs.splice(0, state.logs.length - MAX_LOG_LINES);
    if (!shown(rec)) return;
    if (!state.paused) appendLog(rec);
    else { state.held++; pauseLabel(); }
  };
}

/** pauseLabel names the pause button's action, and how many lines wait. */
function pauseLabel() {
  const b = $('log-pause');
  b.setAttribute('aria-pressed', String(state.paused));
  b.textContent = !state.paused ? 'Pause' : state.held ? `Resume (${state.held} new)` : 'Resume';
}

const LEVELS = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const levelNum = l => typeof l === 'number' ? l : (+Object.keys(LEVELS).find(k => LEVELS[k] === l) || 30);

function shown(rec) {
  const want = $('log-name').value;
  const name = want === '=' ? state.name : want;
  if (name && rec.name !== name) return false;
  return levelNum(rec.level) >= +$('log-level').value;
}

function appendLog(rec) {
  const ol = $('log-lines');
  const item = document.createElement('li');
  const lv = levelNum(rec.level);
  item.className = 'log l' + lv;
  const t = document.createElement('time');
  t.dateTime = rec.time;
  t.textContent = new Date(rec.time).toLocaleTimeString();
  const lvl = document.createElement('span');
  lvl.className = 'lvl';
  lvl.textContent = LEVELS[lv] || lv;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = rec.name || rec.container;
  const msg = document.createElement('span');
  msg.className = 'msg';
  msg.textContent = rec.msg;
  item.append(t, lvl, who, msg);
  const atEnd = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 8;
  ol.append(item);
  while (ol.childElementCount > MAX_LOG_LINES) ol.firstChild.remove();
  if (atEnd) ol.scrollTop = ol.scrollHeight;
}

function renderLogs() {
  state.held = 0;
  pauseLabel();
  $('log-lines').replaceChildren();
  for (const rec of state.logs) if (shown(rec)) appendLog(rec);
}

// ---- secrets ---------------------------------------------------------------------

function renderSecrets() {
  const ul = $('secret-list');
  ul.replaceChildren();
  const names = (state.current && state.current.secrets) || [];
  for (const name of names) {
    const item = document.createElement('li');
    const n = document.createElement('span');
    n.className = 'name';
    n.textContent = name;
    const rep = document.createElement('button');
    rep.type = 'button';
    rep.className = 'quiet';
    rep.textContent = 'Replace';
    rep.setAttribute('aria-label', 'Replace ' + name);
    rep.addEventListener('click', () => {
      $('secret-form-title').textContent = 'Replace secret ' + name;
      $('secret-key').value = name;
      $('secret-key').readOnly = true;
      $('secret-cancel').hidden = false;
      $('secret-value').focus();
    });
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'quiet';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', 'Delete ' + name);
    del.addEventListener('click', () => confirmThen(del, 'Delete?', () => patchSecret(name, null)));
    item.append(n, rep, del);
    ul.append(item);
  }
  if (!names.length) ul.append(li('none', state.current ? 'No secrets.' : 'Open a webtask to see its secrets.'));
}

function resetSecretForm() {
  $('secret-form').reset();
  $('secret-form-title').textContent = 'Add secret';
  $('secret-key').readOnly = false;
  $('secret-cancel').hidden = true;
}

async function patchSecret(name, value) {
  if (!state.current) return say('Open a webtask first.', 'error');
  try {
    updated(await api('PATCH', wtPath(state.name), { secrets: { [name]: value } }));
  } catch (e) { return say(`Secret ${name}: ${e.message}`, 'error'); }
  say(value === null ? `Deleted secret ${name}.` : `Saved secret ${name}.`);
}

// ---- settings --------------------------------------------------------------------

/**
 * renderSettings shows the open webtask's meta, and with load (a webtask
 * just opened) reloads its storage and schedule when the panel is open.
 */
function renderSettings(load) {
  const meta = (state.current && state.current.meta) || {};
  selectValue($('policy'), meta['wt-instance'] || '');
  selectValue($('middleware'), meta['wt-middleware'] || '');
  if (load && state.current && !$('settings').hidden) { loadStorage(); loadCron(); }
}

/** selectValue selects v, adding it as an option when the list lacks it. */
function selectValue(sel, v) {
  if (![...sel.options].some(o => o.value === v)) sel.append(new Option(v, v));
  sel.value = v;
}

async function saveMeta(e) {
  e.preventDefault();
  if (!state.current) return;
  const meta = { 'wt-instance': $('policy').value || null, 'wt-middleware': $('middleware').value || null };
  try {
    updated(await api('PATCH', wtPath(state.name), { meta }));
  } catch (x) { return say('Settings: ' + x.message, 'error'); }
  say('Settings applied.');
}

/**
 * loadStorage shows the open webtask's storage; an answer that comes after
 * another webtask was opened is dropped, so the form never holds (nor then
 * saves) one webtask's data as another's.
 */
async function loadStorage() {
  const name = state.name;
  try {
    const doc = await api('GET', wtPath(name, '/data'));
    if (name !== state.name) return;
    let text = doc.data || '';
    try { if (text) text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* as stored */ }
    $('storage').value = text;
    $('storage').dataset.etag = doc.etag || '';
  } catch (x) { say('Storage: ' + x.message, 'error'); }
}

async function saveStorage(e) {
  e.preventDefault();
  if (!state.current) return;
  const text = $('storage').value.trim() || 'null';
  try { JSON.parse(text); } catch (x) { return say('Storage is not JSON: ' + x.message, 'error'); }
  try {
    const r = await api('PUT', wtPath(state.name, '/data'), { data: text, etag: $('storage').dataset.etag || undefined });
    $('storage').dataset.etag = r.etag;
  } catch (x) { return say('Storage: ' + x.message, 'error'); }
  say('Storage saved.');
}

const cronPath = () => `/api/cron/${encodeURIComponent(state.container)}/${encodeURIComponent(state.name)}`;

/** loadCron shows the open webtask's cron job, as loadStorage its storage. */
async function loadCron() {
  const name = state.name;
  let job = null;
  try { job = await api('GET', cronPath()); } catch (x) { if (x.status !== 404) say('Cron: ' + x.message, 'error'); }
  if (name !== state.name) return;
  $('cron-schedule').value = job ? job.schedule : '';
  $('cron-tz').value = job ? job.tz || 'UTC' : 'UTC';
  $('cron-info').textContent = !job ? 'Not scheduled.' :
    `${job.state}; next run ${job.next_scheduled_at ? new Date(job.next_scheduled_at).toLocaleString() : '—'}` +
    (job.results && job.results.length ? `; last: ${job.results[0].type} ${job.results[0].statusCode || ''}` : '');
}

async function saveCron(e) {
  e.preventDefault();
  if (!state.current) return;
  try {
    await api('PUT', cronPath(), { schedule: $('cron-schedule').value.trim(), tz: $('cron-tz').value.trim() || 'UTC', state: 'active' });
  } catch (x) { return say('Cron: ' + x.message, 'error'); }
  say('Scheduled.');
  loadCron();
}

async function deleteCron() {
  if (!state.current) return;
  try { await api('DELETE', cronPath()); } catch (x) { if (x.status !== 404) return say('Cron: ' + x.message, 'error'); }
  say('Schedule removed.');
  loadCron();
}

// ---- wiring ----------------------------------------------------------------------

function toggle(button, panel, after) {
  button.addEventListener('click', () => {
    const on = button.getAttribute('aria-pressed') !== 'true';
    button.setAttribute('aria-pressed', String(on));
    $(panel).hidden = !on;
    layout();
    if (on && after) after();
  });
}

function layout() {
  const main = document.querySelector('.layout');
  main.classList.toggle('no-side', ['runner', 'secrets', 'settings'].every(id => $(id).hidden));
  main.classList.toggle('no-logs', $('logs').hidden);
}

function wire() {
  $('save').addEventListener('click', save);
  $('run').addEventListener('click', run);
  toggle($('toggle-runner'), 'runner');
  toggle($('toggle-logs'), 'logs');
  toggle($('toggle-secrets'), 'secrets', () => $('secret-key').focus());
  toggle($('toggle-settings'), 'settings', () => state.current && (loadStorage(), loadCron()));
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = '';
    if (state.source) state.source.close();
    signIn('Signed out.');
  });
  $('signin-form').addEventListener('submit', e => {
    e.preventDefault();
    state.container = $('signin-container').value.trim();
    state.token = $('signin-token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $('signin').close();
    setAddress();
    openContainer();
  });
  $('signin').addEventListener('cancel', e => e.preventDefault());
  $('new').addEventListener('click', openCreate);
  $('create-form').addEventListener('submit', create);
  $('create-cancel').addEventListener('click', () => $('create').close());
  for (const r of document.querySelectorAll('input[name=create-kind]')) {
    r.addEventListener('change', () => { $('create-wasm').hidden = r.value !== 'wasm' || !r.checked; });
  }
  $('wasm-form').addEventListener('submit', async e => {
    e.preventDefault();
    try {
      const code = await readWasm($('wasm-file'));
      updated(await api('PATCH', wtPath(state.name), { code }));
      await openWebtask(state.name);
    } catch (x) { return say('Upload: ' + x.message, 'error'); }
    say('Module replaced.');
  });
  $('runner-form').addEventListener('submit', e => { e.preventDefault(); run(); });
  kvRow($('run-params'));
  kvRow($('run-headers'));
  $('add-param').addEventListener('click', () => kvRow($('run-params')).querySelector('input').focus());
  $('add-header').addEventListener('click', () => kvRow($('run-headers')).querySelector('input').focus());
  $('secret-form').addEventListener('submit', async e => {
    e.preventDefault();
    const key = $('secret-key').value.trim(), value = $('secret-value').value;
    $('secret-value').value = ''; // never kept on the page
    await patchSecret(key, value);
    resetSecretForm();
  });
  $('secret-cancel').addEventListener('click', resetSecretForm);
  $('meta-form').addEventListener('submit', saveMeta);
  $('storage-form').addEventListener('submit', saveStorage);
  $('storage-load').addEventListener('click', loadStorage);
  $('cron-form').addEventListener('submit', saveCron);
  $('cron-delete').addEventListener('click', deleteCron);
  $('log-name').addEventListener('change', renderLogs);
  $('log-level').addEventListener('change', renderLogs);
  $('log-pause').addEventListener('click', () => {
    state.paused = !state.paused;
    if (state.paused) pauseLabel(); else renderLogs();
  });
  $('log-clear').addEventListener('click', () => { state.logs = []; renderLogs(); });
  $('copy').addEventListener('click', async () => {
    const url = $('url');
    try { await navigator.clipboard.writeText(url.value); } catch { url.select(); document.execCommand('copy'); }
    say('URL copied.');
  });
  document.addEventListener('keydown', e => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
    if (e.key === 's' || e.key === 'S') { e.preventDefault(); save(); }
    if (e.key === 'Enter') { e.preventDefault(); run(); }
  });
  // A new address with a token in its fragment (wt edit on an open page)
  // changes only the fragment: the page starts over from it.
  window.addEventListener('hashchange', () => { if (location.hash.length > 1) location.reload(); });
  window.addEventListener('beforeunload', e => { if (state.dirty) e.preventDefault(); });
  layout();
}

start();
