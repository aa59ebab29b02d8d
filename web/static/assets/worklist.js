// The signed-in organisation's worklist (GET /v1/worklist): the offers
// waiting for its answer and the gaps it can close. The operator picks an
// organisation (GET /v1/orgs/{org}/worklist).

import { get } from './api.js';
import { h, replace, table, scroller } from './dom.js';
import { t, duration } from './i18n.js';
import { whatLabel, timeEl, section, gapHead, gapRow, pathwayLink, errorMessage } from './ui.js';

function offers(wl, dir, now) {
  if (!wl.offers.length) return h('p', { id: 'worklist-offers' }, t('worklist.nooffers'));
  return scroller(t('worklist.offers'), table({
    caption: t('worklist.offers.caption', { name: dir.name(wl.org) }),
    head: [t('pathway.offer'), t('pathway.what'), t('pathway.from'), t('pathway.offered'), t('gaps.deadline'), t('pathway.offerstatus'), t('gaps.pathway')],
    rows: wl.offers.map(o => {
      const late = o.deadline ? now - new Date(o.deadline) : 0;
      const status = o.paused ? t('worklist.paused') : o.overdue ? `${t('worklist.overdue')} ${duration(late)}` : t('worklist.ontime');
      return h('tr', { class: o.overdue ? 'is-late' : null, dataset: { pathway: o.pathway } },
        h('th', { scope: 'row' }, h('code', {}, o.offer)),
        h('td', {}, whatLabel(o.what)),
        h('td', {}, dir.name(o.from)),
        h('td', {}, timeEl(o.offered)),
        h('td', {}, timeEl(o.deadline)),
        h('td', {}, o.overdue ? h('strong', { class: 'warn' }, status) : status),
        h('td', {}, pathwayLink(o.pathway)));
    }),
    attrs: { class: 'data', id: 'worklist-offers' },
  }));
}

function gaps(wl, dir, now) {
  if (!wl.gaps.length) return h('p', { id: 'worklist-gaps' }, t('worklist.nogaps'));
  return scroller(t('worklist.gaps'), table({
    caption: t('worklist.gaps.caption', { name: dir.name(wl.org) }),
    head: gapHead(),
    rows: wl.gaps.map(g => gapRow(g, dir, now)),
    attrs: { class: 'data gaps', id: 'worklist-gaps' },
  }));
}

export async function render(ctx) {
  const { main, dir, me, query, signal } = ctx;
  const org = me.operator ? (query.get('org') || '') : me.org;
  const heading = h('h1', { tabindex: '-1' }, org ? t('worklist.for', { name: dir.name(org) }) : t('worklist.title'));
  const parts = [heading];
  if (me.operator) {
    const input = h('input', { id: 'w-org', name: 'org', type: 'text', value: org, list: 'w-org-list', required: true, autocomplete: 'off', spellcheck: 'false', pattern: '[a-z]+:[0-9]+' });
    const form = h('form', { class: 'inline-form' },
      h('label', { for: 'w-org' }, t('worklist.choose')), input,
      h('datalist', { id: 'w-org-list' }, [...dir.orgs.values()].map(o => h('option', { value: o.id }, o.name))),
      h('button', { type: 'submit', class: 'button' }, t('worklist.show')));
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      location.hash = '#/worklist?org=' + encodeURIComponent(input.value.trim());
    });
    parts.push(h('p', {}, t('worklist.operator')), form);
  }
  const body = h('div', { id: 'worklist' });
  parts.push(body);
  replace(main, ...parts);
  if (!org) return null;
  const path = me.operator ? `/v1/orgs/${encodeURIComponent(org)}/worklist` : '/v1/worklist';
  async function load() {
    const wl = await get(path, { signal });
    await Promise.all([...new Set(wl.offers.map(o => o.from))].map(o => dir.ensure(o, signal)));
    return wl;
  }
  function draw(wl) {
    const now = new Date(wl.at);
    replace(body,
      section('offers-title', t('worklist.offers'), offers(wl, dir, now)),
      section('wgaps-title', t('worklist.gaps'), gaps(wl, dir, now)));
  }
  try {
    draw(await load());
  } catch (e) {
    replace(body, errorMessage(e));
  }
  return {
    async update() {
      const wl = await load();
      if (signal.aborted) return;
      ctx.refocus(() => draw(wl));
    },
  };
}
