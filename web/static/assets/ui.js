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

// gapRow is one gap in a table; columns as gapHead.
export function gapHead() {
  return [t('gaps.opened'), t('gaps.kind'), t('gaps.cluster'), t('gaps.municipality'), t('gaps.closers'),
    t('gaps.deadline'), numTh(t('gaps.late')), t('gaps.severity'), t('gaps.pathway')];
}

export function gapRow(g, dir, now, { fresh } = {}) {
  const late = overdue(g, now);
  return h('tr', { dataset: { gap: g.id, pathway: g.pathway, kind: g.kind }, class: [fresh && 'is-new', !g.open && 'is-closed'] },
    h('td', {}, timeEl(g.opened_at), fresh ? h('span', { class: 'badge badge-new' }, t('gaps.new')) : null,
      !g.open ? h('span', { class: 'badge' }, t('gaps.closed')) : null),
    h('td', {}, h('span', { class: `kind kind-${g.kind}` }, kindLabel(g.kind))),
    h('td', {}, dir.clusterName(g.cluster)),
    h('td', {}, g.municipality ? dir.name(g.municipality) : t('dash')),
    h('td', {}, g.closers.length ? g.closers.map((c, i) => [i ? ', ' : '', dir.name(c)]) : t('dash')),
    h('td', {}, timeEl(g.deadline)),
    h('td', { class: 'num' }, late > 0 ? duration(late) : t('dash')),
    h('td', {}, h('span', { class: `severity severity-${g.severity}` }, severityLabel(g.severity))),
    h('td', {}, pathwayLink(g.pathway)));
}
