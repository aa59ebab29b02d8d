// The gap list: GET /v1/gaps with the API's filters (cluster,
// municipality, organisation, kind, status), then age and sorting here:
// most severe and newest first unless asked otherwise. The filters live
// in the URL, so a filtered list can be shared, and take one line, so the
// list has the screen.

import { all } from './api.js';
import { h, replace, table, scroller } from './dom.js';
import { t } from './i18n.js';
import { KINDS, AGES, ageBucket } from './directory.js';
import { kindLabel, section, gapHead, gapRow, overdue, errorMessage, namesFor, SEVERITIES } from './ui.js';

const MAX = 2000;
const SORTS = {
  severity: (a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || SORTS.newest(a, b),
  oldest: (a, b) => a.opened_at.localeCompare(b.opened_at) || a.id.localeCompare(b.id),
  newest: (a, b) => b.opened_at.localeCompare(a.opened_at) || a.id.localeCompare(b.id),
  deadline: (a, b) => (a.deadline || '9').localeCompare(b.deadline || '9') || SORTS.oldest(a, b),
  late: null, // needs now; see sorter
  kind: (a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || SORTS.oldest(a, b),
  cluster: (a, b) => a.cluster.localeCompare(b.cluster) || SORTS.oldest(a, b),
};
// The column each sort orders by, for aria-sort (columns as gapHead).
const SORT_COLUMN = { severity: [0, 'descending'], oldest: [2, 'ascending'], newest: [2, 'descending'], deadline: [3, 'descending'], late: [3, 'descending'], kind: [1, 'ascending'], cluster: [6, 'ascending'] };

function sorter(sort, now) {
  if (sort === 'late') return (a, b) => overdue(b, now) - overdue(a, now) || SORTS.oldest(a, b);
  return SORTS[sort] || SORTS.severity;
}

function filters(query) {
  const kinds = query.getAll('kind').flatMap(k => k.split(',')).filter(k => KINDS.includes(k));
  return {
    cluster: query.get('cluster') || '',
    municipality: (query.get('municipality') || '').replace(/^kommune:/, ''),
    org: query.get('org') || '',
    kinds,
    age: query.get('age') || '',
    status: ['open', 'closed', 'all'].includes(query.get('status')) ? query.get('status') : 'open',
    sort: query.get('sort') in SORTS ? query.get('sort') : 'severity',
  };
}

function apiPath(f) {
  const q = new URLSearchParams({ limit: '500' });
  if (f.cluster) q.set('cluster', f.cluster);
  if (f.municipality) q.set('municipality', f.municipality);
  if (f.org) q.set('org', f.org);
  if (f.kinds.length) q.set('kind', f.kinds.join(','));
  if (f.status !== 'open') q.set('status', f.status);
  return '/v1/gaps?' + q;
}

function select(id, label, value, options) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name: id.replace(/^f-/, '') },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

function form(f, dir, onSubmit) {
  const any = ['', t('gaps.any')];
  const kinds = h('details', { class: 'dropdown', id: 'f-kinds' },
    h('summary', {}, f.kinds.length ? t('gaps.kinds.some', { n: f.kinds.length }) : t('gaps.kinds.all')),
    h('fieldset', { class: 'kinds' },
      h('legend', {}, t('gaps.kind')),
      KINDS.map(k => h('div', { class: 'check' },
        h('input', { type: 'checkbox', id: 'f-kind-' + k, name: 'kind', value: k, checked: f.kinds.includes(k) }),
        h('label', { for: 'f-kind-' + k }, kindLabel(k))))));
  const more = h('details', { class: 'more-filters', open: Boolean(f.org) },
    h('summary', {}, t('gaps.more')),
    h('div', { class: 'field' },
      h('label', { for: 'f-org' }, t('gaps.org')),
      h('p', { id: 'f-org-hint', class: 'hint' }, t('gaps.org.hint')),
      h('input', { id: 'f-org', name: 'org', type: 'text', value: f.org, list: 'f-org-list', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'f-org-hint', pattern: '[a-z]+:[0-9A-Za-z]+' }),
      h('datalist', { id: 'f-org-list' }, [...dir.orgs.values()].map(o => h('option', { value: o.id }, o.name)))));
  const el = h('form', { class: 'filters compact', id: 'gap-filters', 'aria-labelledby': 'filters-title' },
    h('h2', { id: 'filters-title', class: 'visually-hidden' }, t('gaps.filters')),
    h('div', { class: 'filter-row' },
      select('f-cluster', t('gaps.cluster'), f.cluster, [any, ...dir.clusters.map(c => [c.id, c.name])]),
      select('f-municipality', t('gaps.municipality'), f.municipality,
        [any, ...dir.municipalities.map(m => [m.id.split(':')[1], m.name])]),
      h('div', { class: 'field' }, h('span', { class: 'label', id: 'f-kinds-label' }, t('gaps.kind')), kinds),
      select('f-age', t('gaps.age'), f.age, [any, ...AGES.map((_, i) => [String(i), t('age.' + i)])]),
      select('f-status', t('gaps.status'), f.status, ['open', 'closed', 'all'].map(s => [s, t('gaps.status.' + s)])),
      select('f-sort', t('gaps.sort'), f.sort, Object.keys(SORTS).map(s => [s, t('gaps.sort.' + s)])),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'button', id: 'f-apply' }, t('gaps.apply')),
        h('a', { href: '#/gaps', class: 'button button-quiet' }, t('gaps.reset')))),
    more);
  el.addEventListener('submit', ev => {
    ev.preventDefault();
    const data = new FormData(el);
    const q = new URLSearchParams();
    for (const k of ['cluster', 'municipality', 'org', 'age']) if (data.get(k)) q.set(k, String(data.get(k)).trim());
    if (data.getAll('kind').length) q.set('kind', data.getAll('kind').join(','));
    if (data.get('status') !== 'open') q.set('status', data.get('status'));
    if (data.get('sort') !== 'severity') q.set('sort', data.get('sort'));
    onSubmit('#/gaps' + (q.toString() ? '?' + q : ''));
  });
  return el;
}

export async function render(ctx) {
  const { main, dir, query, signal } = ctx;
  const f = filters(query);
  const results = h('div', { id: 'gap-results' });
  let seen = null; // the ids shown before, to mark new rows

  async function load() {
    const got = await all(apiPath(f), { signal, max: MAX });
    const now = new Date();
    let list = got.filter(g => f.age === '' || ageBucket(g.opened_at, now) === Number(f.age));
    list.sort(sorter(f.sort, now));
    await namesFor(dir, list, signal);
    return { list, capped: got.capped, now };
  }

  function draw({ list, capped, now }) {
    const fresh = seen ? new Set(list.filter(g => !seen.has(g.id)).map(g => g.id)) : new Set();
    seen = new Set(list.map(g => g.id));
    const sortName = t('gaps.sort.' + f.sort).toLowerCase();
    const [col, dirn] = SORT_COLUMN[f.sort];
    const head = gapHead().map((c, i) => {
      const th = c instanceof Node ? c : h('th', { scope: 'col' }, c);
      if (i === col) th.setAttribute('aria-sort', dirn);
      return th;
    });
    const count = h('p', { id: 'gap-count', class: 'count', dataset: { count: String(list.length) } },
      list.length === 1 ? t('gaps.count1') : t('gaps.count', { n: list.length }),
      capped ? ' ' + t('gaps.capped', { n: MAX }) : '');
    replace(results, count, list.length
      ? scroller(t('gaps.title'), table({
        caption: t('gaps.caption', { sort: sortName }),
        head,
        rows: list.map(g => gapRow(g, dir, now, { fresh: fresh.has(g.id) })),
        attrs: { class: 'data gaps', id: 'gaps-table' },
      }))
      : h('p', { class: 'message' }, t('gaps.empty')));
  }

  replace(main,
    h('h1', { tabindex: '-1' }, t('gaps.title')),
    form(f, dir, hash => {
      // The same filters again: the router hears no change, so re-fetch.
      if (location.hash === hash) view.update().catch(e => replace(results, errorMessage(e)));
      else location.hash = hash;
    }),
    section('results-title', t('gaps.title'), results));
  // The heading of the results duplicates the page's; keep it for the
  // outline but out of sight.
  main.querySelector('#results-title').classList.add('visually-hidden');
  const view = {
    async update() {
      const next = await load();
      if (signal.aborted) return;
      ctx.refocus(() => draw(next));
    },
  };
  try {
    draw(await load());
  } catch (e) {
    replace(results, errorMessage(e));
  }
  return view;
}
