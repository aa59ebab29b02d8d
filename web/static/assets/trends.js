// Trends over a chosen range of days: gaps opened and closed per day, and
// the board's figures of the months the range covers, for one body —
// the figures of GET /v1/clusters/{id}/figures?from=&to=&months=, the
// body picked among those in force on the range's last day (GET
// /v1/clusters?at=), so a range after 1 January 2027 shows the
// sundhedsråd. The view reads them again at the interval picked.

import { get } from './api.js';
import { h, s, replace, table, scroller } from './dom.js';
import { t, day, time } from './i18n.js';
import { section, errorMessage, numTh } from './ui.js';
import { trend } from './figures.js';

const REFRESH = [0, 30, 60, 300];
const DAY = 86400e3;

// isoDay is a Date's calendar day in Copenhagen, YYYY-MM-DD.
function isoDay(d) {
  return d.toLocaleDateString('sv-SE', { timeZone: 'Europe/Copenhagen' });
}

function validDay(v) {
  return /^\d{4}-\d{2}-\d{2}$/.test(v || '') && !isNaN(new Date(v + 'T12:00:00Z'));
}

// monthsBetween counts the calendar months from's to to's, both counted.
function monthsBetween(from, to) {
  const [fy, fm] = from.split('-').map(Number);
  const [ty, tm] = to.split('-').map(Number);
  return Math.min(Math.max((ty - fy) * 12 + tm - fm + 1, 1), 120);
}

// gapChart draws gaps opened and closed per day, one line each; the
// closed line is dashed, so the two differ in more than colour.
function gapChart(daily) {
  const W = 760, left = 44, right = 16, top = 12, H = 220, bottom = 30;
  const n = daily.length;
  const max = Math.max(1, ...daily.map(d => Math.max(d.gaps_opened, d.gaps_closed)));
  const x = i => left + (n > 1 ? i / (n - 1) : 0.5) * (W - left - right);
  const y = v => top + (1 - v / max) * (H - top - bottom);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart gap-trend', id: 'gap-trend', role: 'img', 'aria-labelledby': 'gap-trend-title', width: '100%' },
    s('title', { id: 'gap-trend-title' }, t('trends.chart', { from: daily[0]?.day || '', to: daily[n - 1]?.day || '' })));
  // Horizontal guides at round numbers.
  const step = Math.max(1, Math.ceil(max / 4));
  for (let v = 0; v <= max; v += step) {
    svg.append(
      s('line', { class: 'axis', x1: left, x2: W - right, y1: y(v), y2: y(v) }),
      s('text', { class: 'chart-value', x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  // Date labels: about six along the axis.
  const every = Math.max(1, Math.ceil(n / 6));
  daily.forEach((d, i) => {
    if (i % every && i !== n - 1) return;
    svg.append(s('text', { class: 'chart-value', x: x(i), y: H - 10, 'text-anchor': 'middle' }, day(new Date(d.day + 'T12:00:00Z'))));
  });
  for (const [key, cls] of [['gaps_opened', 'opened'], ['gaps_closed', 'closed']]) {
    const pts = daily.map((d, i) => `${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { class: `trend trend-${cls}`, points: pts, fill: 'none', dataset: { series: cls, days: String(n) } },
      s('title', {}, t('trends.' + cls))));
  }
  return svg;
}

function chartLegend() {
  const item = (cls, label) => h('li', {},
    s('svg', { viewBox: '0 0 28 10', width: 28, height: 10, 'aria-hidden': 'true', focusable: 'false' },
      s('line', { class: `trend trend-${cls}`, x1: 1, x2: 27, y1: 5, y2: 5 })), label);
  return h('ul', { class: 'chart-legend' }, item('opened', t('trends.opened')), item('closed', t('trends.closed')));
}

export async function render(ctx) {
  const { main, query, signal } = ctx;
  const today = isoDay(new Date());
  const to = validDay(query.get('to')) ? query.get('to') : today;
  const from = validDay(query.get('from')) ? query.get('from') : isoDay(new Date(new Date(to + 'T12:00:00Z') - 89 * DAY));
  const refresh = REFRESH.includes(Number(query.get('refresh'))) ? Number(query.get('refresh')) : 0;
  // The bodies in force on the last day of the range.
  const clusters = ((await get(`/v1/clusters?at=${to}`, { signal })).items || []).filter(c => c.municipalities.length);
  const chosen = clusters.find(c => c.id === query.get('cluster')) || clusters[0];

  const fromInput = h('input', { type: 'date', id: 'tr-from', name: 'from', value: from, required: true });
  const toInput = h('input', { type: 'date', id: 'tr-to', name: 'to', value: to, required: true });
  const select = h('select', { id: 'tr-cluster', name: 'cluster' }, clusters.map(c => h('option', { value: c.id, selected: c === chosen }, c.name)));
  const every = h('select', { id: 'tr-refresh', name: 'refresh' },
    REFRESH.map(sec => h('option', { value: String(sec), selected: sec === refresh }, t('trends.refresh.' + sec))));
  const error = h('p', { id: 'tr-error', class: 'message message-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'inline-form filters compact', id: 'trend-form' },
    h('div', { class: 'filter-row' },
      h('div', { class: 'field' }, h('label', { for: 'tr-from' }, t('trends.from')), fromInput),
      h('div', { class: 'field' }, h('label', { for: 'tr-to' }, t('trends.to')), toInput),
      h('div', { class: 'field' }, h('label', { for: 'tr-cluster' }, t('figures.scope')), select),
      h('div', { class: 'field' }, h('label', { for: 'tr-refresh' }, t('trends.refresh')), every),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', id: 'tr-apply' }, t('figures.show')))),
    error);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    if (!validDay(fromInput.value) || !validDay(toInput.value) || fromInput.value > toInput.value) {
      error.textContent = t('trends.badrange');
      error.hidden = false;
      fromInput.setAttribute('aria-invalid', 'true');
      fromInput.focus();
      return;
    }
    const q = new URLSearchParams({ from: fromInput.value, to: toInput.value, cluster: select.value });
    if (every.value !== '0') q.set('refresh', every.value);
    location.hash = '#/trends?' + q;
  });
  const gapsPart = h('div', { id: 'trend-gaps' });
  const boardPart = h('div', { id: 'trend-board' });
  const asof = h('p', { class: 'subtle', id: 'trend-asof' });
  replace(main,
    h('h1', { tabindex: '-1' }, t('trends.title')),
    h('p', {}, t('trends.intro')),
    form, asof,
    section('trend-gaps-title', t('trends.gaps', { name: chosen ? chosen.name : '' }), chartLegend(), gapsPart),
    section('trend-board-title', t('trends.board', { name: chosen ? chosen.name : '' }), boardPart));
  if (!chosen) {
    replace(gapsPart, h('p', {}, t('figures.nodata')));
    return null;
  }

  async function load() {
    const q = new URLSearchParams({ at: to, from, to, months: String(monthsBetween(from, to)) });
    return get(`/v1/clusters/${encodeURIComponent(chosen.id)}/figures?${q}`, { signal });
  }
  function draw(f) {
    asof.textContent = t('trends.asof', { time: time(new Date()) });
    const opened = f.daily.reduce((n, d) => n + d.gaps_opened, 0);
    const closed = f.daily.reduce((n, d) => n + d.gaps_closed, 0);
    replace(gapsPart,
      h('p', { id: 'trend-sums', dataset: { opened: String(opened), closed: String(closed), days: String(f.daily.length) } },
        t('trends.sums', { opened, closed, days: f.daily.length })),
      h('div', { class: 'chart-wrap' }, gapChart(f.daily)),
      h('details', {},
        h('summary', {}, t('trends.table')),
        scroller(t('trends.table'), table({
          head: [t('figures.day'), numTh(t('trends.opened')), numTh(t('trends.closed')), numTh(t('figures.admissions')), numTh(t('figures.discharges'))],
          rows: f.daily.slice().reverse().map(d => h('tr', {},
            h('th', { scope: 'row' }, h('time', { datetime: d.day }, day(new Date(d.day + 'T12:00:00Z')))),
            [d.gaps_opened, d.gaps_closed, d.admissions, d.discharges].map(n => h('td', { class: 'num' }, String(n))))),
          attrs: { class: 'data', id: 'trend-table' },
        }))));
    replace(boardPart, h('div', { class: 'chart-wrap' }, trend(f.months)));
  }
  try {
    draw(await load());
  } catch (e) {
    replace(gapsPart, errorMessage(e));
  }
  const view = {
    async update(alerts) {
      if (alerts?.length && !alerts.some(a => a.kind.startsWith('gap-'))) return;
      const f = await load();
      if (signal.aborted) return;
      ctx.refocus(() => draw(f));
    },
  };
  if (refresh) {
    const timer = setInterval(() => view.update([]).catch(e => replace(gapsPart, errorMessage(e))), refresh * 1000);
    signal.addEventListener('abort', () => clearInterval(timer));
  }
  return view;
}
