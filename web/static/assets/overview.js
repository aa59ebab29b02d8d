// The overview: the clusters' open gaps by kind and by age, and the
// municipalities as tiles coloured by open gaps per 10 000 inhabitants
// (their population from the directory). All of it comes from one answer
// (GET /v1/clusters: open_gaps, open_by_age, open_by_municipality, read
// in one moment), so the totals add up however busy the service is.

import { get, fresh } from './api.js';
import { h, hidden, replace, scroller } from './dom.js';
import { t, decimal, dateTime } from './i18n.js';
import { KINDS, AGES } from './directory.js';
import { kindLabel, section } from './ui.js';

// BINS are the colour classes' lower bounds, in open gaps per 10 000
// inhabitants; 0 has a class of its own.
const BINS = [0, 1, 2, 5, 10];
const REGIONS = ['Nordjylland', 'Midtjylland', 'Syddanmark', 'Hovedstaden', 'Sjælland'];

function bin(rate) {
  if (rate === 0) return 0;
  let b = 1;
  for (let i = 1; i < BINS.length; i++) if (rate >= BINS[i]) b = i + 1;
  return b;
}

function binLabel(b) {
  if (b === 0) return '0';
  const lo = BINS[b - 1];
  const hi = BINS[b];
  if (hi === undefined) return `≥ ${lo}`;
  return lo === 0 ? `< ${hi}` : `${lo}–${hi}`;
}

async function load(ctx) {
  const { dir, signal } = ctx;
  const clusters = (await get('/v1/clusters', { signal })).items || [];
  dir.setClusters(clusters);
  // An organisation sees its clusters' municipalities only.
  const visible = new Set(clusters.flatMap(c => c.municipalities));
  const byMuni = new Map([...visible].map(m => [m, 0]));
  for (const c of clusters) {
    for (const [m, n] of Object.entries(c.open_by_municipality || {})) {
      if (byMuni.has(m)) byMuni.set(m, byMuni.get(m) + n);
    }
  }
  // The kinds of the columns: every kind the answer counts, the known
  // ones first, so a row's total is the sum of its columns.
  const kinds = [...KINDS];
  for (const c of clusters) for (const k of Object.keys(c.open_gaps)) if (!kinds.includes(k)) kinds.push(k);
  // As of the last moment the projections held the whole log, which the
  // answers say; the fetch time would claim freshness they may not have.
  return { clusters, byMuni, kinds, at: fresh()?.asOf || new Date() };
}

function clusterTable(data, dir) {
  const kinds = data.kinds;
  const head = [
    h('th', { scope: 'col', rowspan: 2 }, t('overview.cluster')),
    h('th', { scope: 'colgroup', colspan: kinds.length + 1 }, t('overview.bykind')),
    h('th', { scope: 'colgroup', colspan: AGES.length }, t('overview.byage')),
  ];
  // The age headers are short to see and whole to hear.
  const sub = [...kinds.map(k => kindLabel(k)), t('overview.total'),
    ...AGES.map((_, i) => h('span', { class: 'age' }, h('span', { 'aria-hidden': 'true' }, t('age.short.' + i)), hidden(t('age.' + i))))];
  const rows = data.clusters.map(c => {
    const ages = c.open_by_age || AGES.map(() => 0);
    return h('tr', { dataset: { cluster: c.id } },
      h('th', { scope: 'row' }, h('a', { href: '#/gaps?cluster=' + encodeURIComponent(c.id) }, c.name)),
      kinds.map(k => h('td', { class: ['num', c.open_gaps[k] ? 'nonzero' : ''], dataset: { kind: k } }, String(c.open_gaps[k] ?? 0))),
      h('td', { class: 'num total', dataset: { kind: 'total' } }, String(c.open_total)),
      ages.map((n, a) => h('td', { class: ['num', n ? 'nonzero' : ''], dataset: { age: String(a) } }, String(n))));
  });
  const tbl = h('table', { class: 'data clusters', id: 'clusters-table' },
    h('caption', {}, t('overview.clusters.caption')),
    h('thead', {},
      h('tr', {}, head),
      h('tr', { class: 'sub' }, sub.map(s => h('th', { scope: 'col' }, s)))),
    h('tbody', {}, rows));
  return scroller(t('overview.clusters'), tbl);
}

function municipalityGrid(data, dir) {
  const regions = new Map(REGIONS.map(r => [r, []]));
  for (const m of dir.municipalities) {
    if (!regions.has(m.region)) regions.set(m.region, []);
    regions.get(m.region).push(m);
  }
  const groups = [...regions].filter(([, ms]) => ms.length).map(([region, ms]) => {
    const id = 'region-' + region.toLowerCase().replace(/[^a-z]/g, '');
    return h('div', { class: 'region', role: 'group', 'aria-labelledby': id },
      h('h3', { id }, region),
      h('ul', { class: 'tiles' }, ms.map(m => tile(m, data.byMuni.get(m.id)))));
  });
  return h('div', { class: 'municipalities' }, groups);
}

function tile(m, open) {
  const code = m.id.split(':')[1];
  if (open === undefined) {
    return h('li', { class: 'tile tile-none', dataset: { municipality: m.id } },
      h('span', { class: 'tile-name' }, m.name),
      h('span', { class: 'tile-count' }, t('dash')),
      hidden(t('noaccess')));
  }
  const rate = m.population ? open / m.population * 10000 : 0;
  const b = bin(rate);
  return h('li', { class: `tile bin-${b}`, dataset: { municipality: m.id, open: String(open) } },
    h('a', { href: '#/gaps?municipality=' + code, title: t('overview.population', { n: m.population }) },
      h('span', { class: 'tile-name' }, m.name),
      h('span', { class: 'tile-figures' },
        h('span', { class: 'tile-count' }, String(open)), hidden(' ' + t('overview.opengaps') + ', '),
        h('span', { class: 'tile-rate' }, decimal(rate)), hidden(' ' + t('overview.per10k')))));
}

function legend(hasNone) {
  return h('figure', { class: 'legend' },
    h('figcaption', {}, t('overview.legend')),
    h('ul', {},
      [0, 1, 2, 3, 4, 5].map(b => h('li', {}, h('span', { class: `swatch bin-${b}`, 'aria-hidden': 'true' }), binLabel(b))),
      hasNone ? h('li', {}, h('span', { class: 'swatch tile-none', 'aria-hidden': 'true' }), t('overview.legend.noaccess')) : null));
}

export async function render(ctx) {
  const { main, dir } = ctx;
  let data = await load(ctx);
  const asof = h('p', { class: 'subtle', id: 'overview-asof' });
  const clusters = h('div');
  const grid = h('div');
  const legendHolder = h('div');
  function draw() {
    asof.textContent = t('asof', { time: dateTime(data.at.toISOString()) });
    replace(clusters, clusterTable(data, dir));
    replace(legendHolder, legend(data.byMuni.size < dir.municipalities.length));
    replace(grid, municipalityGrid(data, dir));
  }
  draw();
  replace(main,
    h('h1', { tabindex: '-1' }, t('overview.title')),
    asof,
    section('clusters-title', t('overview.clusters'), clusters),
    section('municipalities-title', t('overview.municipalities'),
      h('p', {}, t('overview.municipalities.intro')), legendHolder, grid));
  return {
    async update() {
      const next = await load(ctx);
      if (ctx.signal.aborted) return;
      data = next;
      ctx.refocus(draw);
    },
  };
}
