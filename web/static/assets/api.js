// The HTTP API, with the signed-in token. docs/api.md is the reference.

const KEY = 'stafet.token';

export function token() {
  try { return sessionStorage.getItem(KEY) || ''; } catch { return ''; }
}

export function setToken(tok) {
  try {
    if (tok) sessionStorage.setItem(KEY, tok);
    else sessionStorage.removeItem(KEY);
  } catch { /* a tab without storage signs in again on reload */ }
}

// APIError carries the HTTP status and the problem document.
export class APIError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

let onUnauthorised = () => {};
let onFresh = () => {};
let last = null;

// freshness sets what to do with the freshness of each read: every answer
// says which log position and time it reflects, and whether it may miss
// events (docs/api.md, "Freshness").
export function freshness(f) { onFresh = f; }

// fresh is the freshness of the last read: { stale, asOf, state, position }.
export function fresh() { return last; }

function noteFresh(resp) {
  const stale = resp.headers.get('Stafet-Stale');
  if (stale === null) return;
  const asOf = resp.headers.get('Stafet-As-Of');
  last = {
    stale: stale === 'true', asOf: asOf ? new Date(asOf) : null,
    state: resp.headers.get('Stafet-State') || '', position: Number(resp.headers.get('Stafet-Position') || 0),
  };
  onFresh(last);
}

// unauthorised sets what to do when the token stops working.
export function unauthorised(f) { onUnauthorised = f; }

// get fetches a JSON resource under the API.
export async function get(path, { signal, quiet401 } = {}) {
  const resp = await fetch(path, {
    headers: { 'Authorization': 'Bearer ' + token(), 'Accept': 'application/json' },
    signal,
    cache: 'no-store',
  });
  noteFresh(resp);
  let body = null;
  const type = resp.headers.get('Content-Type') || '';
  if (type.includes('json')) body = await resp.json();
  if (!resp.ok) {
    if (resp.status === 401 && !quiet401) onUnauthorised();
    throw new APIError(resp.status, body);
  }
  return body;
}

// post sends a command (a JSON body; with raw, a message as it is) to
// the API and returns its answer. A failure throws an APIError with the
// problem document, whose detail names the field or rule.
export async function post(path, body, { signal, raw } = {}) {
  const resp = await fetch(path, {
    method: 'POST',
    headers: {
      'Authorization': 'Bearer ' + token(), 'Accept': 'application/json',
      'Content-Type': raw ? 'application/octet-stream' : 'application/json',
    },
    body: raw ? body : JSON.stringify(body ?? {}),
    signal,
    cache: 'no-store',
  });
  let answer = null;
  const type = resp.headers.get('Content-Type') || '';
  if (type.includes('json')) answer = await resp.json();
  if (!resp.ok) {
    if (resp.status === 401) onUnauthorised();
    throw new APIError(resp.status, answer);
  }
  return answer;
}

// all follows a list's "next" links and returns every item, up to max.
export async function all(path, { signal, max = 5000 } = {}) {
  const items = [];
  let next = path;
  let capped = false;
  while (next) {
    const page = await get(next, { signal });
    items.push(...(page.items || []));
    next = page.next;
    if (items.length >= max) {
      capped = Boolean(next) || items.length > max;
      items.length = Math.min(items.length, max);
      break;
    }
  }
  return Object.assign(items, { capped });
}

// each runs f over items with at most limit requests in flight, and
// returns the results in order (an error is returned in its place).
export async function each(items, limit, f) {
  const out = new Array(items.length);
  let i = 0;
  async function worker() {
    while (i < items.length) {
      const k = i++;
      try { out[k] = await f(items[k], k); } catch (e) { out[k] = e; }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// streamURL is the alert stream with the token in the query, because
// EventSource cannot set headers.
export function streamURL() {
  return '/v1/alerts/stream?access_token=' + encodeURIComponent(token());
}

// health reads the service's health report (public: /readyz), whatever
// its status code says.
export async function health({ signal } = {}) {
  const resp = await fetch('/readyz', { headers: { 'Accept': 'application/json' }, signal, cache: 'no-store' });
  return resp.json();
}
