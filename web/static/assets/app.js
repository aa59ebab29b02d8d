// The dashboard's shell: sign-in, the router (views live in the URL's
// fragment, #/gaps?cluster=aarhus, so the server serves one page), the
// language toggle and the live alert stream.

import { token, setToken, unauthorised, streamURL, APIError, freshness, health } from './api.js';
import { h, replace } from './dom.js';
import { t, lang, setLang, applyStatic, time } from './i18n.js';
import { Directory, whoami } from './directory.js';
import { errorMessage } from './ui.js';
import * as overview from './overview.js';
import * as gaps from './gaps.js';
import * as pathway from './pathway.js';
import * as worklist from './worklist.js';
import * as figures from './figures.js';
import * as trends from './trends.js';
import * as messages from './messages.js';

const views = { '': overview, gaps, pathway, worklist, figures, trends, messages };
const navOf = { '': 'overview', gaps: 'gaps', pathway: 'gaps', worklist: 'worklist', figures: 'figures', trends: 'trends', messages: 'messages' };

const main = document.getElementById('main');
const state = { me: null, dir: null, view: null, abort: null, live: null, stream: 'connecting', fresh: null, health: null };

// parse reads "#/pathway/ID?x=y" as route "pathway", rest ["ID"], query.
function parse(hash) {
  const [path, qs] = hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || '', rest: parts.slice(1), query: new URLSearchParams(qs || '') };
}

async function route({ focus } = {}) {
  if (!token() || !state.me) {
    showSignIn();
    return;
  }
  state.abort?.abort();
  const abort = new AbortController();
  state.abort = abort;
  const { name, rest, query } = parse(location.hash);
  const view = views[name] || overview;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === navOf[name in views ? name : '']) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.setAttribute('aria-busy', 'true');
  delete main.dataset.view;
  replace(main, h('p', { class: 'loading' }, t('loading')));
  const ctx = { main, rest, query, me: state.me, dir: state.dir, signal: abort.signal, refocus };
  try {
    state.view = await view.render(ctx);
  } catch (e) {
    if (abort.signal.aborted) return;
    state.view = null;
    replace(main, h('h1', { tabindex: '-1' }, t('title')), errorMessage(e));
  }
  if (abort.signal.aborted) return;
  main.removeAttribute('aria-busy');
  main.dataset.view = location.hash || '#/'; // what is shown, for tests and styles
  document.title = `${main.querySelector('h1')?.textContent || ''} · Stafet`;
  if (focus) main.querySelector('h1')?.focus();
}

// refocus re-renders part of a view without losing the keyboard user's
// place: the element with the same id or link target gets focus back.
function refocus(render) {
  const a = document.activeElement;
  const key = a && a !== document.body && main.contains(a) ? (a.id ? `#${CSS.escape(a.id)}` : a.getAttribute('href') ? `[href="${CSS.escape(a.getAttribute('href'))}"]` : null) : null;
  render();
  if (key && !main.contains(document.activeElement)) main.querySelector(key)?.focus();
}

function showSignIn(message) {
  stopLive();
  state.me = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('whoami').hidden = true;
  document.getElementById('signout').hidden = true;
  const error = h('p', { id: 'signin-error', class: 'message message-error', role: 'alert' }, message || '');
  error.hidden = !message;
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'token-hint' + (message ? ' signin-error' : ''),
  });
  const form = h('form', { class: 'signin', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'token' }, t('signin.token')),
      h('p', { id: 'token-hint', class: 'hint' }, t('signin.hint')),
      input),
    error,
    h('button', { type: 'submit', class: 'button' }, t('signin.submit')));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const tok = input.value.trim();
    if (!tok) {
      showError(t('signin.empty'));
      return;
    }
    setToken(tok);
    try {
      await signIn();
      await route({ focus: true });
    } catch (e) {
      setToken('');
      showError(e instanceof APIError && e.status === 401 ? t('signin.unknown') : t('signin.failed', { msg: e.message }));
    }
  });
  function showError(msg) {
    error.textContent = msg;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', 'token-hint signin-error');
    input.focus();
  }
  replace(main,
    h('h1', { tabindex: '-1' }, t('signin.title')),
    h('p', {}, t('signin.intro')),
    form);
  document.title = `${t('signin.title')} · Stafet`;
}

// signIn learns who the token belongs to and loads the directory.
async function signIn() {
  const me = await whoami();
  const dir = new Directory();
  await dir.load();
  if (!me.operator) await dir.ensure(me.org);
  state.me = me;
  state.dir = dir;
  const who = document.getElementById('whoami');
  who.textContent = me.operator ? t('who.operator') : t('who.org', { name: dir.label(me.org) });
  who.dataset.org = me.org;
  who.hidden = false;
  document.getElementById('nav').hidden = false;
  document.getElementById('signout').hidden = false;
  startLive();
  startHealth();
}

function signOut() {
  setToken('');
  state.abort?.abort();
  state.view = null;
  showSignIn();
  main.querySelector('h1')?.focus();
}

// Live updates. Alerts come per addressee, so one gap can give several;
// they are gathered for a moment and the view re-fetches once, at most
// every two seconds however busy the stream. The projections that answer
// the lists and the alerts are separate readers of the log, so the view
// re-fetches once more shortly after, in case the alert came first.
const GATHER = 250;
const SPACING = 2000;
let batch = [];
let batchTimer = 0;
let followTimer = 0;
let pollTimer = 0;
let lastFlush = 0;

function startLive() {
  stopLive();
  const live = document.getElementById('live');
  live.hidden = false;
  setLive('connecting');
  let wasOpen = false;
  const es = new EventSource(streamURL());
  state.live = es;
  es.addEventListener('open', () => {
    setLive('open');
    clearInterval(pollTimer);
    if (wasOpen) refresh([]); // reconnected: catch up on what was missed
    wasOpen = true;
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (not served, or the token went): retry later, and poll
      // meanwhile so the view does not go stale.
      setLive('unavailable');
      if (!pollTimer) pollTimer = setInterval(() => refresh([]), 30000);
      setTimeout(() => { if (state.live === es && state.me) startLive(); }, 15000);
    } else {
      setLive('closed');
    }
  });
  for (const kind of ['gap-opened', 'gap-closed', 'gap-escalated', 'offer-received', 'deadline-elapsed']) {
    es.addEventListener(kind, ev => {
      let alert;
      try { alert = JSON.parse(ev.data); } catch { return; }
      batch.push(alert);
      if (!batchTimer) batchTimer = setTimeout(flush, Math.max(GATHER, lastFlush + SPACING - Date.now()));
    });
  }
}

function stopLive() {
  stopHealth();
  state.live?.close();
  state.live = null;
  clearTimeout(batchTimer);
  batchTimer = 0;
  batch = [];
  clearInterval(pollTimer);
  pollTimer = 0;
  document.getElementById('live').hidden = true;
}

// setLive shows the alert stream's status; "Live" only while the stream is
// open and the data current: open on stale data says so instead.
function setLive(status) {
  state.stream = status;
  const live = document.getElementById('live');
  const stale = state.fresh?.stale;
  const shown = status === 'open' && stale ? 'stale' : status;
  live.dataset.status = shown;
  document.getElementById('live-text').textContent = t('live.' + shown, { time: asOfText() });
}

function asOfText() {
  const at = state.fresh?.asOf;
  return at ? time(at) : t('dash');
}

// Health: every read's freshness headers, and the service's health report
// every few seconds, make the banner: stale data first (what is shown may
// miss gaps), else degraded (what needs the operator).
const HEALTH_EVERY = 10000;
let healthTimer = 0;

freshness(f => {
  const was = state.fresh?.stale;
  state.fresh = f;
  if (f.stale !== was) {
    setLive(state.stream);
    showHealth();
    // Current again: fetch what was missed meanwhile.
    if (was && !f.stale) refresh([]);
  }
});

async function checkHealth() {
  try {
    state.health = await health();
  } catch {
    state.health = null;
  }
  showHealth();
  // While stale, ask the view again: its answer says when it is current.
  if (state.fresh?.stale) refresh([]);
}

function startHealth() {
  clearInterval(healthTimer);
  checkHealth();
  healthTimer = setInterval(checkHealth, HEALTH_EVERY);
}

function stopHealth() {
  clearInterval(healthTimer);
  healthTimer = 0;
  state.fresh = null;
  state.health = null;
  showHealth();
}

function showHealth() {
  const banner = document.getElementById('health-banner');
  const text = document.getElementById('health-text');
  const hl = state.health;
  let msg = '';
  let kind = '';
  if (state.fresh?.stale) {
    kind = 'stale';
    msg = t('banner.stale', { time: asOfText(), state: t('state.' + (state.fresh.state || 'stalled')) });
  } else if (hl && hl.status === 'degraded' && hl.reasons?.length) {
    kind = 'degraded';
    msg = t('banner.degraded', { reasons: hl.reasons.map(reasonText).join('; ') });
  } else if (hl && (hl.status === 'stopped' || hl.status === 'catching-up' || hl.status === 'starting')) {
    kind = 'stale';
    msg = t('banner.' + hl.status, { pct: Math.floor(100 * (hl.projections?.[0]?.progress ?? 0)) });
  }
  banner.hidden = !msg;
  banner.dataset.kind = kind;
  if (text.textContent !== msg) text.textContent = msg;
}

function reasonText(r) {
  const key = 'reason.' + r.code;
  return t(key, { n: r.seqs?.length ?? 0 });
}

function flush() {
  const alerts = batch;
  batch = [];
  batchTimer = 0;
  lastFlush = Date.now();
  // Several addressees get an alert about the same gap: count gaps.
  const opened = new Set(alerts.filter(a => a.kind === 'gap-opened').map(a => a.gap?.id));
  const closed = new Set(alerts.filter(a => a.kind === 'gap-closed').map(a => a.gap?.id));
  const parts = [];
  if (opened.size) parts.push(opened.size === 1 ? t('live.opened1') : t('live.opened', { n: opened.size }));
  if (closed.size) parts.push(closed.size === 1 ? t('live.closed1') : t('live.closedn', { n: closed.size }));
  if (!parts.length && alerts.some(a => a.kind === 'offer-received')) parts.push(t('live.offer'));
  if (parts.length) {
    const updates = document.getElementById('updates');
    updates.textContent = `${parts.join(', ')} · ${t('live.updated', { time: time(new Date()) })}`;
  }
  refresh(alerts);
  clearTimeout(followTimer);
  followTimer = setTimeout(() => refresh(alerts, { follow: true }), 1500);
}

// refresh lets the view re-fetch, one update at a time: alerts that come
// meanwhile wait for the next.
let refreshing = false;
let queued = null;

function refresh(alerts, opts = {}) {
  const view = state.view;
  if (!view?.update || state.abort?.signal.aborted) return;
  if (refreshing) {
    queued = { alerts: [...(queued?.alerts || []), ...alerts], opts: queued && !queued.opts.follow ? queued.opts : opts };
    return;
  }
  refreshing = true;
  view.update(alerts, opts).catch(e => {
    if (e instanceof APIError && e.status === 401) return;
    if (e.name !== 'AbortError') console.warn('stafet: live refresh failed', e);
  }).finally(() => {
    refreshing = false;
    const next = queued;
    queued = null;
    if (next && state.view === view) refresh(next.alerts, next.opts);
  });
}

function init() {
  applyStatic();
  const langButton = document.getElementById('lang');
  const relabel = () => {
    langButton.textContent = t('lang.switch');
    langButton.lang = lang() === 'da' ? 'en' : 'da';
  };
  relabel();
  langButton.addEventListener('click', () => {
    setLang(lang() === 'da' ? 'en' : 'da');
    applyStatic();
    relabel();
    if (state.me) {
      const who = document.getElementById('whoami');
      who.textContent = state.me.operator ? t('who.operator') : t('who.org', { name: state.dir.label(state.me.org) });
      setLive(state.stream);
      showHealth();
    }
    route();
  });
  document.getElementById('signout').addEventListener('click', signOut);
  // The skip link must not change the fragment: that is the router's.
  document.getElementById('skip-link').addEventListener('click', ev => {
    ev.preventDefault();
    (main.querySelector('h1') || main).focus();
  });
  window.addEventListener('hashchange', () => {
    if (location.hash.startsWith('#/') || location.hash === '') route({ focus: true });
  });
  unauthorised(() => {
    setToken('');
    state.abort?.abort();
    showSignIn(t('error.401'));
  });
  if (token()) {
    signIn().then(() => route(), e => {
      if (e instanceof APIError && e.status === 401) {
        setToken('');
        showSignIn(t('signin.unknown'));
      } else {
        showSignIn(t('signin.failed', { msg: e.message }));
      }
    });
  } else {
    showSignIn();
  }
}

init();
