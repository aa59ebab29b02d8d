// The signed-in organisation's worklist (GET /v1/worklist): the offers
// waiting for its answer, answered here, and the gaps it can close, each
// with its patient (?identity=true: where the organisation is in the
// patient's care, every read in the access log). The operator picks an organisation from
// the directory (GET /v1/orgs/{org}/worklist) and sees pseudonyms only.

import { get } from './api.js';
import { h, replace, table, scroller } from './dom.js';
import { t, duration } from './i18n.js';
import { whatLabel, timeEl, section, gapHead, gapRow, pathwayLink, errorMessage, patientText, namesFor, actionStatus } from './ui.js';
import { offerActions } from './actions.js';

const PICKABLE = [['municipality', 'worklist.kind.municipality'], ['region', 'worklist.kind.region'], ['hospital', 'worklist.kind.hospital']];

function offers(wl, dir, now, { acting, status, reload }) {
  if (!wl.offers.length) return h('p', { id: 'worklist-offers' }, t('worklist.nooffers'));
  const head = [t('pathway.what'), acting ? t('gaps.patient') : null, t('pathway.from'), t('pathway.offered'), t('gaps.deadline'),
    t('pathway.offerstatus'), t('gaps.pathway'), acting ? t('action.title') : null].filter(Boolean);
  return scroller(t('worklist.offers'), table({
    caption: t('worklist.offers.caption', { name: dir.name(wl.org) }),
    head,
    rows: wl.offers.map(o => {
      const late = o.deadline ? now - new Date(o.deadline) : 0;
      const st = o.paused ? t('worklist.paused') : o.overdue ? `${t('worklist.overdue')} ${duration(late)}` : t('worklist.ontime');
      return h('tr', { class: o.overdue ? 'is-late' : null, dataset: { pathway: o.pathway, offer: o.offer } },
        h('th', { scope: 'row' }, whatLabel(o.what)),
        acting ? h('td', { class: 'patient' }, patientText(o.patient)) : null,
        h('td', {}, dir.name(o.from)),
        h('td', {}, timeEl(o.offered)),
        h('td', {}, timeEl(o.deadline)),
        h('td', {}, o.overdue ? h('strong', { class: 'warn' }, st) : st),
        h('td', {}, pathwayLink(o.pathway)),
        acting ? h('td', {}, offerActions({ pathway: o.pathway, offer: o.offer, what: o.what, status, done: reload })) : null);
    }),
    attrs: { class: 'data', id: 'worklist-offers' },
  }));
}

function gaps(wl, dir, now, acting) {
  if (!wl.gaps.length) return h('p', { id: 'worklist-gaps' }, t('worklist.nogaps'));
  return scroller(t('worklist.gaps'), table({
    caption: t('worklist.gaps.caption', { name: dir.name(wl.org) }),
    head: gapHead({ patient: acting }),
    rows: wl.gaps.map(g => gapRow(g, dir, now, { patient: acting })),
    attrs: { class: 'data gaps', id: 'worklist-gaps' },
  }));
}

// picker lets the operator choose an organisation by name.
async function picker(dir, org, signal) {
  await Promise.all(PICKABLE.map(([kind]) => dir.ensureKind(kind, signal)));
  const groups = PICKABLE.map(([kind, label]) => {
    const orgs = [...dir.orgs.values()].filter(o => o.kind === kind).sort((a, b) => a.name.localeCompare(b.name, 'da'));
    return h('optgroup', { label: t(label) }, orgs.map(o => h('option', { value: o.id, selected: o.id === org }, o.name)));
  });
  const known = [...dir.orgs.values()].some(o => o.id === org && PICKABLE.some(([k]) => k === o.kind));
  const select = h('select', { id: 'w-org', name: 'org', required: true },
    h('option', { value: '', selected: !org }, t('worklist.pick')),
    org && !known ? h('option', { value: org, selected: true }, dir.label(org)) : null,
    groups);
  const form = h('form', { class: 'inline-form' },
    h('label', { for: 'w-org' }, t('worklist.choose')), select,
    h('button', { type: 'submit', class: 'button' }, t('worklist.show')));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    if (select.value) location.hash = '#/worklist?org=' + encodeURIComponent(select.value);
  });
  return form;
}

export async function render(ctx) {
  const { main, dir, me, query, signal } = ctx;
  const org = me.operator ? (query.get('org') || '') : me.org;
  if (org) await dir.ensure(org, signal);
  const heading = h('h1', { tabindex: '-1' }, org ? t('worklist.for', { name: dir.name(org) }) : t('worklist.title'));
  const parts = [heading];
  if (me.operator) parts.push(h('p', {}, t('worklist.operator')), await picker(dir, org, signal));
  // An organisation acts on its own worklist and sees its own patients.
  const acting = !me.operator;
  if (acting) parts.push(h('p', { class: 'subtle' }, t('worklist.identity')));
  const status = actionStatus('worklist-status');
  const body = h('div', { id: 'worklist' });
  parts.push(status, body);
  replace(main, ...parts);
  if (!org) return null;
  const path = acting ? '/v1/worklist?identity=true' : `/v1/orgs/${encodeURIComponent(org)}/worklist`;
  async function load() {
    const wl = await get(path, { signal });
    await Promise.all([...new Set(wl.offers.map(o => o.from))].map(o => dir.ensure(o, signal)));
    await namesFor(dir, wl.gaps, signal);
    return wl;
  }
  const view = {
    async update() {
      const wl = await load();
      if (signal.aborted) return;
      ctx.refocus(() => draw(wl));
    },
  };
  // After an action the list is read again at once; the live alert that
  // follows reads it once more.
  const reload = () => view.update().catch(e => replace(body, errorMessage(e)));
  function draw(wl) {
    const now = new Date(wl.at);
    replace(body,
      section('offers-title', t('worklist.offers'), offers(wl, dir, now, { acting, status, reload })),
      section('wgaps-title', t('worklist.gaps'), gaps(wl, dir, now, acting)));
  }
  try {
    draw(await load());
  } catch (e) {
    replace(body, errorMessage(e));
  }
  return view;
}
