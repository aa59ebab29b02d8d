// Pieces the views share: messages, labels, times and the gap table.

import { APIError } from './api.js';
import { h } from './dom.js';
import { t, has, dateTime, duration } from './i18n.js';

// errorMessage explains a failed request in words.
export function errorMessage(e) {
  let text = t('error', { msg: e.message });
  if (e instanceof APIError && e.status === 403) text = t('error.403');
  if (e instanceof APIError && e.status === 404) text = t('error.404');
  return h('p', { class: 'message message-error', role: 'alert' }, text);
}

export function kindLabel(kind) { return has('kind.' + kind) ? t('kind.' + kind) : kind; }
export function whatLabel(what) { return has('what.' + what) ? t('what.' + what) : what; }
export function statusLabel(st) { return has('offerstatus.' + st) ? t('offerstatus.' + st) : st; }
export function severityLabel(sv) { return has('severity.' + sv) ? t('severity.' + sv) : sv; }

// timeEl shows an RFC 3339 time in Copenhagen time, machine-readable.
export function timeEl(iso) {
  if (!iso) return t('dash');
  return h('time', { datetime: iso }, dateTime(iso));
}

// section is a titled region of a view.
export function section(id, title, ...children) {
  return h('section', { 'aria-labelledby': id, class: 'panel' }, h('h2', { id }, title), ...children);
}

export function pathwayHref(id) { return '#/pathway/' + encodeURIComponent(id); }

// shortID is the last 8 digits of a pathway's id: its ids are UUIDv7,
// whose first digits are the time, the same for pathways opened together.
export function shortID(id) { return id.slice(-8); }

// pathwayLink shows a pathway's id shortened; its name says what it is.
export function pathwayLink(id) {
  const short = shortID(id);
  return h('a', { href: pathwayHref(id), class: 'pathway-link', 'aria-label': t('gaps.open', { id: short }) }, h('code', {}, short));
}

// numTh is a column header over numbers, aligned with them.
export function numTh(label) { return h('th', { scope: 'col', class: 'num' }, label); }

// overdue is how long ago a gap's deadline (or its opening) passed.
export function overdue(g, now) {
  const from = new Date(g.deadline || g.opened_at);
  const until = g.closed_at ? new Date(g.closed_at) : now;
  return until - from;
}

// SEVERITIES are the gap severities, most severe first.
export const SEVERITIES = ['critical', 'warning', 'info'];

// severityBadge shows a severity in colour and in words, and with a
// shape of its own, so it does not rest on colour alone.
export function severityBadge(sv) {
  const mark = { critical: '▲', warning: '◆', info: '●' }[sv] || '●';
  return h('span', { class: `sev sev-${sv}` }, h('span', { class: 'sev-mark', 'aria-hidden': 'true' }, mark), severityLabel(sv));
}

// patientText names a patient the API identified for this reader.
export function patientText(p) {
  if (!p) return t('dash');
  if (p.shredded) return t('patient.shredded');
  return [p.name, p.cpr && formatCPR(p.cpr)].filter(Boolean).join(', ');
}

// formatCPR shows a CPR number as people write it, DDMMYY-SSSS.
export function formatCPR(cpr) {
  return /^\d{10}$/.test(cpr) ? cpr.slice(0, 6) + '-' + cpr.slice(6) : cpr;
}

// gapRow is one gap in a table; columns as gapHead.
export function gapHead({ patient } = {}) {
  return [t('gaps.severity'), t('gaps.kind'), t('gaps.opened'), numTh(t('gaps.late')),
    patient ? t('gaps.patient') : null, t('gaps.municipality'), t('gaps.closers'), t('gaps.cluster'), t('gaps.pathway')].filter(Boolean);
}

export function gapRow(g, dir, now, { fresh, patient } = {}) {
  const late = overdue(g, now);
  return h('tr', { dataset: { gap: g.id, pathway: g.pathway, kind: g.kind, severity: g.severity }, class: [fresh && 'is-new', !g.open && 'is-closed', `row-${g.severity}`] },
    h('td', {}, severityBadge(g.severity)),
    h('td', {}, h('span', { class: `kind kind-${g.kind}` }, kindLabel(g.kind))),
    h('td', {}, timeEl(g.opened_at), fresh ? h('span', { class: 'badge badge-new' }, t('gaps.new')) : null,
      !g.open ? h('span', { class: 'badge' }, t('gaps.closed')) : null),
    h('td', { class: 'num' }, late > 0 ? duration(late) : t('dash')),
    patient ? h('td', { class: 'patient' }, patientText(g.patient)) : null,
    h('td', {}, g.municipality ? dir.name(g.municipality) : t('dash')),
    h('td', {}, g.closers.length ? g.closers.map((c, i) => [i ? ', ' : '', dir.name(c)]) : t('dash')),
    h('td', {}, dir.clusterName(g.cluster)),
    h('td', {}, pathwayLink(g.pathway)));
}

// namesFor loads the directory entries the gaps name (general practices
// are loaded only when a gap names one), so rows show names, not ids.
export async function namesFor(dir, gaps, signal) {
  const ids = new Set();
  for (const g of gaps) {
    for (const c of g.closers) ids.add(c);
    if (g.municipality) ids.add(g.municipality);
  }
  await Promise.all([...ids].map(id => dir.ensure(id, signal)));
}

// actionStatus is where an action says how it went.
export function actionStatus(id) {
  return h('p', { id, class: 'action-status', role: 'status', 'aria-live': 'polite' });
}

// showDone and showFailed report an action in its status element.
export function showDone(el, text) {
  el.className = 'action-status message message-ok';
  el.textContent = text;
}

export function showFailed(el, e) {
  el.className = 'action-status message message-error';
  el.textContent = e instanceof APIError && e.status === 409
    ? t('action.refused', { msg: e.message })
    : t('action.failed', { msg: e.message });
}
