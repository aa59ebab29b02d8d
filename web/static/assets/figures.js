// Figures from GET /v1/clusters/{id}/figures and
// /v1/municipalities/{code}/figures: time from offer to acceptance (the
// API gives each scope's count, median and 90th percentile),
// "færdigbehandlet" bed days per municipality per week (the daily counts
// of the last 30 days, summed per ISO week), and the board's figures of
// the twelve months up to the month picked, with trend lines. The month
// picked also picks the structure: the 21 sundhedsklynger up to December
// 2026, the 17 sundhedsråd from January 2027 (GET /v1/clusters?at=).

import { get, each, APIError } from './api.js';
import { h, s, replace, table, scroller } from './dom.js';
import { t, duration, day } from './i18n.js';
import { section, errorMessage, numTh } from './ui.js';

// isoWeek returns [year, week] of a "YYYY-MM-DD" day.
function isoWeek(dayString) {
  const d = new Date(dayString + 'T00:00:00Z');
  const wd = (d.getUTCDay() + 6) % 7; // Monday 0
  d.setUTCDate(d.getUTCDate() - wd + 3); // the week's Thursday
  const year = d.getUTCFullYear();
  return [year, Math.floor((d - Date.UTC(year, 0, 1)) / 86400e3 / 7) + 1];
}

function offerChart(rows) {
  const W = 700, left = 190, right = 70, rowH = 26, top = 8;
  const max = Math.max(...rows.map(r => r.f.offer_to_accept.p90_seconds), 1);
  const x = v => left + v / max * (W - left - right);
  const H = top + rows.length * rowH + 8;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': 'o2a-chart-title', width: '100%' },
    s('title', { id: 'o2a-chart-title' }, t('figures.o2a.caption')));
  rows.forEach((r, i) => {
    const o = r.f.offer_to_accept;
    const y = top + i * rowH;
    svg.append(s('text', { class: 'chart-label', x: left - 8, y: y + 16, 'text-anchor': 'end' }, r.c.name));
    if (!o.count) {
      svg.append(s('text', { class: 'chart-value', x: left, y: y + 16 }, t('dash')));
      return;
    }
    svg.append(
      s('line', { class: 'whisker', x1: x(o.median_seconds), x2: x(o.p90_seconds), y1: y + 11, y2: y + 11 }),
      s('line', { class: 'whisker', x1: x(o.p90_seconds), x2: x(o.p90_seconds), y1: y + 5, y2: y + 17 }),
      s('rect', { class: 'bar', x: left, y: y + 4, width: Math.max(x(o.median_seconds) - left, 1), height: 14 },
        s('title', {}, `${r.c.name}: ${t('figures.median')} ${duration(o.median_seconds * 1000)}, ${t('figures.p90')} ${duration(o.p90_seconds * 1000)}`)),
      s('text', { class: 'chart-value', x: x(o.p90_seconds) + 6, y: y + 16 }, duration(o.p90_seconds * 1000)));
  });
  return svg;
}

// BOARD are the board's figures: the month view's field, how to show it.
const BOARD = [
  ['readmission_rate_30d', v => (v * 100).toFixed(1) + ' %', m => m.readmission_rate_30d],
  ['ready_bed_days', v => String(v), m => m.ready_bed_days],
  ['discharge_to_service', v => v ? duration(v * 1000) : t('dash'), m => m.discharge_to_service.median_seconds],
  ['offer_to_accept', v => v ? duration(v * 1000) : t('dash'), m => m.offer_to_accept.median_seconds],
  ['gaps_per_10000', v => v.toFixed(2), m => m.gaps_per_10000],
];

// thisMonth returns the current month as YYYY-MM.
function thisMonth() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

// lastDay returns the last day of a YYYY-MM month as YYYY-MM-DD.
function lastDay(month) {
  const [y, m] = month.split('-').map(Number);
  return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
}

// trend draws one line per board figure over the months, a row each,
// its latest value at the right.
export function trend(months) {
  const W = 700, left = 210, right = 90, rowH = 40, top = 6;
  const H = top + BOARD.length * rowH + 4;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart trends', id: 'board-trends', role: 'img', 'aria-labelledby': 'trend-title', width: '100%' },
    s('title', { id: 'trend-title' }, t('board.trends')));
  BOARD.forEach(([key, fmt, get], i) => {
    const vals = months.map(get);
    const max = Math.max(...vals, 0) || 1;
    const y0 = top + i * rowH, w = W - left - right;
    const pts = vals.map((v, j) => `${(left + (vals.length > 1 ? j / (vals.length - 1) : 0.5) * w).toFixed(1)},${(y0 + rowH - 8 - v / max * (rowH - 14)).toFixed(1)}`);
    svg.append(
      s('text', { class: 'chart-label', x: left - 8, y: y0 + rowH / 2 + 4, 'text-anchor': 'end' }, t('board.' + key)),
      s('line', { class: 'axis', x1: left, x2: left + w, y1: y0 + rowH - 8, y2: y0 + rowH - 8 }),
      s('polyline', { class: 'trend', points: pts.join(' '), fill: 'none', dataset: { figure: key } },
        s('title', {}, `${t('board.' + key)}: ${months.map(m => `${m.month} ${fmt(get(m))}`).join(', ')}`)),
      s('text', { class: 'chart-value', x: left + w + 6, y: y0 + rowH / 2 + 4 }, months.length ? fmt(vals[vals.length - 1]) : t('dash')));
  });
  return svg;
}

export async function render(ctx) {
  const { main, dir, query, signal } = ctx;
  const month = /^\d{4}-\d{2}$/.test(query.get('month') || '') ? query.get('month') : thisMonth();
  const at = lastDay(month);
  // The bodies in force at the month's end: either structure.
  const clusters = ((await get(`/v1/clusters?at=${at}`, { signal })).items || []).filter(c => c.municipalities.length);
  const chosen = clusters.find(c => c.id === query.get('cluster')) || clusters[0];
  const select = h('select', { id: 'fig-cluster', name: 'cluster' },
    clusters.map(c => h('option', { value: c.id, selected: c === chosen }, c.name)));
  const picker = h('input', { type: 'month', id: 'fig-month', name: 'month', value: month, min: '2022-07', required: true });
  const form = h('form', { class: 'inline-form' },
    h('label', { for: 'fig-month' }, t('figures.month')), picker,
    h('label', { for: 'fig-cluster' }, t('figures.scope')), select,
    h('button', { type: 'submit', class: 'button' }, t('figures.show')));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    // A new month may be a new structure: keep the body only if it is in force then.
    location.hash = '#/figures?month=' + encodeURIComponent(picker.value || month) + '&cluster=' + encodeURIComponent(select.value);
  });
  const raad = clusters.some(c => c.kind === 'sundhedsraad');
  const structure = h('p', { id: 'fig-structure', dataset: { count: String(clusters.length), kind: raad ? 'sundhedsraad' : 'sundhedsklynge' } },
    t(raad ? 'figures.structure.raad' : 'figures.structure.klynge', { n: clusters.length, month }));
  const board = h('div', { id: 'board' });
  const o2a = h('div', { id: 'o2a' });
  const ready = h('div', { id: 'ready' });
  const daily = h('div', { id: 'daily' });
  replace(main,
    h('h1', { tabindex: '-1' }, t('figures.title')),
    form,
    structure,
    section('board-title', t('board.title', { name: chosen ? chosen.name : '' }), h('p', {}, t('board.intro')), board),
    section('o2a-title', t('figures.o2a'), h('p', {}, t('figures.o2a.intro')), o2a),
    section('ready-title', t('figures.ready'), h('p', {}, t('figures.ready.intro')), ready),
    section('daily-title', t('figures.dailytitle'), daily));
  if (!chosen) {
    replace(o2a, h('p', {}, t('figures.nodata')));
    return null;
  }

  async function load() {
    const figs = await each(clusters, 6, c => get(`/v1/clusters/${encodeURIComponent(c.id)}/figures?at=${at}`, { signal }));
    const munis = chosen.municipalities;
    const mfigs = await each(munis, 6, m => get(`/v1/municipalities/${m.split(':')[1]}/figures?at=${at}`, { signal }));
    for (const f of [...figs, ...mfigs]) if (f instanceof Error && !(f instanceof APIError && f.status === 403)) throw f;
    return { figs, munis, mfigs };
  }

  function draw({ figs, munis, mfigs }) {
    const rows = clusters.map((c, i) => ({ c, f: figs[i] })).filter(r => !(r.f instanceof Error));
    replace(o2a,
      h('div', { class: 'chart-wrap' }, offerChart(rows)),
      scroller(t('figures.o2a'), table({
        caption: t('figures.o2a.caption'),
        head: [t('overview.cluster'), numTh(t('figures.count')), numTh(t('figures.median')), numTh(t('figures.p90'))],
        rows: rows.map(({ c, f }) => h('tr', { dataset: { cluster: c.id } },
          h('th', { scope: 'row' }, c.name),
          h('td', { class: 'num' }, String(f.offer_to_accept.count)),
          h('td', { class: 'num' }, f.offer_to_accept.count ? duration(f.offer_to_accept.median_seconds * 1000) : t('dash')),
          h('td', { class: 'num' }, f.offer_to_accept.count ? duration(f.offer_to_accept.p90_seconds * 1000) : t('dash')))),
        attrs: { class: 'data', id: 'o2a-table' },
      })));

    // Weeks of the 30 days, in order.
    const mine = munis.map((m, i) => ({ m, f: mfigs[i] })).filter(r => !(r.f instanceof Error));
    const days = mine[0]?.f.daily.map(d => d.day) || [];
    const weeks = [];
    for (const d of days) {
      const [y, w] = isoWeek(d);
      const key = `${y}-${w}`;
      if (!weeks.length || weeks[weeks.length - 1].key !== key) weeks.push({ key, week: w, first: d });
    }
    replace(ready, mine.length ? scroller(t('figures.ready'), table({
      caption: t('figures.ready.caption', { name: chosen.name }),
      head: [t('gaps.municipality'), ...weeks.map(w => h('th', { scope: 'col', class: 'num', title: w.first }, t('figures.week', { n: w.week }))), numTh(t('figures.readytotal')), numTh(t('figures.readynow'))],
      rows: mine.map(({ m, f }) => {
        const sums = new Map(weeks.map(w => [w.key, 0]));
        for (const d of f.daily) {
          const [y, w] = isoWeek(d.day);
          sums.set(`${y}-${w}`, (sums.get(`${y}-${w}`) || 0) + d.ready_bed_days);
        }
        return h('tr', { dataset: { municipality: m } },
          h('th', { scope: 'row' }, dir.name(m)),
          weeks.map(w => h('td', { class: ['num', sums.get(w.key) ? 'nonzero' : ''] }, String(sums.get(w.key)))),
          h('td', { class: 'num total' }, String(f.ready_bed_days)),
          h('td', { class: 'num' }, String(f.ready_now)));
      }),
      attrs: { class: 'data', id: 'ready-table' },
    })) : h('p', {}, t('figures.nodata')));

    const cf = figs[clusters.indexOf(chosen)];
    replace(board, cf instanceof Error ? errorMessage(cf) : h('div', {},
      h('div', { class: 'chart-wrap' }, trend(cf.months)),
      scroller(t('board.title', { name: chosen.name }), table({
        caption: t('board.caption', { name: chosen.name }),
        head: [t('board.month'), ...BOARD.map(([key]) => numTh(t('board.' + key)))],
        rows: cf.months.slice().reverse().map(m => h('tr', { dataset: { month: m.month } },
          h('th', { scope: 'row' }, m.month),
          BOARD.map(([key, fmt, get]) => h('td', { class: 'num', dataset: { figure: key } }, fmt(get(m)))))),
        attrs: { class: 'data', id: 'board-table' },
      }))));
    replace(daily, cf instanceof Error ? errorMessage(cf) : h('details', {},
      h('summary', {}, t('figures.daily', { name: chosen.name })),
      scroller(t('figures.daily', { name: chosen.name }), table({
        head: [t('figures.day'), ...['admissions', 'discharges', 'gapsopened', 'gapsclosed', 'readydays'].map(k => numTh(t('figures.' + k)))],
        rows: cf.daily.slice().reverse().map(d => h('tr', {},
          h('th', { scope: 'row' }, h('time', { datetime: d.day }, day(new Date(d.day + 'T12:00:00Z')))),
          [d.admissions, d.discharges, d.gaps_opened, d.gaps_closed, d.ready_bed_days].map(n => h('td', { class: 'num' }, String(n))))),
        attrs: { class: 'data' },
      }))));
  }

  try {
    draw(await load());
  } catch (e) {
    replace(o2a, errorMessage(e));
  }
  return {
    async update(alerts) {
      // Figures move slowly; only a gap or an answer changes them.
      if (alerts.length && !alerts.some(a => a.kind.startsWith('gap-'))) return;
      const next = await load();
      if (signal.aborted) return;
      ctx.refocus(() => draw(next));
    },
  };
}
