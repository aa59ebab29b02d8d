// One pathway (GET /v1/pathways/{id}): who the patient is (for an
// organisation in the patient's care, ?identity=true, the read in the
// access log), what is
// late, the swimlanes of hospital, municipality and GP with offers,
// answers, documents and the gap intervals in red, the chain of custody
// with the answers the signed-in organisation can give, and every event.

import { get, APIError } from './api.js';
import { h, s, replace, table, scroller } from './dom.js';
import { t, duration, shortDateTime, day, dateTime, time as clock } from './i18n.js';
import { lane } from './directory.js';
import { kindLabel, whatLabel, statusLabel, timeEl, section, gapHead, gapRow, overdue, errorMessage, shortID, patientText, formatCPR, actionStatus } from './ui.js';
import { offerActions, releaseAction } from './actions.js';

const LANES = ['hospital', 'municipality', 'gp', 'stafet'];

const CATEGORY = {
  PathwayOpened: 'stay', PathwayClosed: 'stay', PatientAdmitted: 'stay', PatientTransferred: 'stay',
  PatientDischarged: 'stay', PatientDied: 'stay', LeaveStarted: 'stay', LeaveEnded: 'stay',
  DischargeExpected: 'stay', ReadyForDischarge: 'stay',
  HandoffOffered: 'offer',
  HandoffAccepted: 'answer', HandoffRejected: 'answer', HandoffWithdrawn: 'answer',
  ResponsibilityReleased: 'answer', ServiceStarted: 'answer',
  DocumentRequested: 'document', DocumentSent: 'document', DocumentAcknowledged: 'document',
  DeadlineElapsed: 'deadline',
};

// orgOf is the organisation in whose lane an event is drawn.
function orgOf(e) {
  const d = e.data || {};
  switch (e.type) {
    case 'PatientTransferred': return d.to;
    case 'PatientAdmitted': case 'PatientDischarged': case 'PatientDied': case 'LeaveStarted':
    case 'LeaveEnded': case 'DischargeExpected': case 'ReadyForDischarge':
      return d.hospital || e.actor?.org;
    case 'HandoffOffered': case 'DocumentSent': case 'DocumentRequested':
      return d.from || e.actor?.org;
    case 'DeadlineElapsed': return '';
  }
  return e.actor?.org || e.source?.org || '';
}

const STEPS = [1e3, 5e3, 10e3, 30e3, 60e3, 5 * 60e3, 15 * 60e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 14 * 86400e3, 28 * 86400e3];

function ticks(t0, t1) {
  const step = STEPS.find(st => (t1 - t0) / st <= 7) || STEPS[STEPS.length - 1];
  const out = [];
  for (let x = Math.ceil(t0 / step) * step; x <= t1; x += step) out.push(x);
  return { step, at: out };
}

// timeline draws the swimlanes as SVG.
function timeline(pw, dir, now) {
  const events = pw.timeline.filter(e => !e.annulled);
  const gaps = [...pw.open_gaps, ...pw.closed_gaps];
  const chain = pw.owner.chain;
  const times = [...events.map(e => +new Date(e.occurred_at)), ...gaps.map(g => +new Date(g.opened_at))];
  const open = pw.status !== 'closed';
  let t0 = Math.min(...times);
  let t1 = Math.max(...times, ...gaps.filter(g => g.closed_at).map(g => +new Date(g.closed_at)), open ? +now : 0);
  if (!isFinite(t0)) t0 = t1 = +now;
  const pad = Math.max((t1 - t0) * 0.03, 1e3);
  t0 -= pad;
  t1 += open ? pad / 2 : pad;
  const gapLane = g => lane(dir, g.closers[0] || g.municipality);
  const used = new Set(['hospital', 'municipality', 'gp']);
  for (const e of events) if (!orgOf(e)) used.add('stafet');
  const lanes = LANES.filter(l => used.has(l));
  const W = 1000, left = 130, right = 16, top = 34, laneH = 74;
  // In a lane: offers on top, events and holdings in the middle, gaps in
  // up to three rows below, so gaps at the same time do not hide each
  // other.
  const OFFER_Y = 6, MID_Y = 27, GAP_Y = 42, GAP_H = 8, GAP_ROWS = 3;
  const H = top + lanes.length * laneH + 8;
  const x = ms => left + (ms - t0) / (t1 - t0) * (W - left - right);
  const y = l => top + lanes.indexOf(l) * laneH;
  const at = iso => x(+new Date(iso));

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'timeline', role: 'img', 'aria-labelledby': 'tl-title tl-desc', width: '100%', preserveAspectRatio: 'xMinYMin meet' },
    s('title', { id: 'tl-title' }, t('pathway.timeline')),
    s('desc', { id: 'tl-desc' }, t('pathway.timeline.desc')));

  // Lanes and their names.
  lanes.forEach((l, i) => svg.append(
    s('rect', { class: `lane lane-${i % 2 ? 'odd' : 'even'}`, x: 0, y: y(l), width: W, height: laneH }),
    s('text', { class: 'lane-label', x: 8, y: y(l) + MID_Y + 5 }, t('pathway.lane.' + l))));

  // The time axis.
  const { step, at: marks } = ticks(t0, t1);
  let lastDay = '';
  for (const m of marks) {
    const d = new Date(m);
    const dayText = day(d);
    const hm = step < 60e3 ? clock(d) : clockShort(d);
    const label = step >= 86400e3 ? dayText : (dayText !== lastDay ? `${dayText} ${hm}` : hm);
    lastDay = dayText;
    svg.append(
      s('line', { class: 'tick', x1: x(m), x2: x(m), y1: top - 4, y2: H - 8 }),
      s('text', { class: 'tick-label', x: x(m), y: top - 10, 'text-anchor': 'middle' }, label));
  }

  // Gap intervals: a faint column across the lanes, and a red bar in the
  // lane of whoever must act.
  const rowEnds = new Map(); // lane → the right end of each gap row
  const spans = []; // the open gaps' times, shaded once below
  for (const g of gaps.slice().sort((a, b) => a.opened_at.localeCompare(b.opened_at))) {
    const x1 = at(g.opened_at);
    const x2 = g.closed_at ? at(g.closed_at) : x(+now);
    const w = Math.max(x2 - x1, 3);
    const l = gapLane(g);
    const ends = rowEnds.get(l) || rowEnds.set(l, []).get(l);
    let row = ends.findIndex(end => end < x1);
    if (row < 0) row = ends.length < GAP_ROWS ? ends.length : GAP_ROWS - 1;
    ends[row] = Math.max(ends[row] || 0, x1 + w);
    const state = g.open ? 'gap-open' : 'gap-closed';
    const tip = `${kindLabel(g.kind)}: ${shortDateTime(new Date(g.opened_at))} – ${g.closed_at ? shortDateTime(new Date(g.closed_at)) : t('pathway.now')} (${duration((g.closed_at ? new Date(g.closed_at) : now) - new Date(g.opened_at))})`;
    if (g.open) spans.push([x1, x1 + w]);
    svg.append(
      s('rect', { class: `gap ${state}`, 'data-gap': g.id, 'data-kind': g.kind, x: x1, y: y(l) + GAP_Y + row * (GAP_H + 2), width: w, height: GAP_H, rx: 2 },
        s('title', {}, tip)));
  }

  // Time with an open gap shades every lane, once however many gaps are
  // open then: nobody has acted yet. Drawn under the lanes' marks.
  spans.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const sp of spans) {
    const last = merged[merged.length - 1];
    if (last && sp[0] <= last[1]) last[1] = Math.max(last[1], sp[1]);
    else merged.push([...sp]);
  }
  const firstMark = svg.querySelector('rect.gap');
  for (const [a, b] of merged) svg.insertBefore(s('rect', { class: 'gap-span', x: a, y: top, width: b - a, height: lanes.length * laneH }), firstMark);

  // Responsibility held: from the acceptance until it ended (or now).
  for (const c of chain) {
    if (c.status !== 'accepted' || !c.answered) continue;
    const x1 = at(c.answered);
    const x2 = c.ended ? at(c.ended) : x(+now);
    svg.append(s('rect', { class: 'hold', x: x1, y: y(lane(dir, c.to)) + MID_Y - 3, width: Math.max(x2 - x1, 2), height: 6 },
      s('title', {}, `${whatLabel(c.what)}: ${dir.name(c.to)}`)));
  }
  // The hospital holds the stay from admission to discharge, transfer or
  // death.
  let stay = null;
  const endStay = at => {
    if (!stay) return;
    const x1 = x(stay.from);
    svg.append(s('rect', { class: 'hold', x: x1, y: y(lane(dir, stay.org)) + MID_Y - 3, width: Math.max(x(at) - x1, 2), height: 6 },
      s('title', {}, `${whatLabel('hospital-stay')}: ${dir.name(stay.org)}`)));
    stay = null;
  };
  for (const e of events) {
    const when = +new Date(e.occurred_at);
    if (e.type === 'PatientAdmitted' && !stay) stay = { org: e.data.hospital, from: when };
    else if (e.type === 'PatientTransferred') { endStay(when); stay = { org: e.data.to, from: when }; }
    else if (e.type === 'PatientDischarged' || e.type === 'PatientDied') endStay(when);
  }
  endStay(+now);
  for (const hd of pw.owner.holders) {
    if (hd.what === 'hospital-stay' || chain.some(c => c.status === 'accepted' && c.to === hd.org && c.what === hd.what)) continue;
    const x1 = at(hd.since);
    svg.append(s('rect', { class: 'hold', x: x1, y: y(lane(dir, hd.org)) + MID_Y - 3, width: Math.max(x(+now) - x1, 2), height: 6 },
      s('title', {}, `${whatLabel(hd.what)}: ${dir.name(hd.org)}`)));
  }

  // Offers: a bar in the addressee's lane from the offer to its answer
  // (or now), with the deadline marked.
  for (const c of chain) {
    const x1 = at(c.offered);
    const end = c.answered ? +new Date(c.answered) : (c.status === 'pending' ? +now : +new Date(c.ended || c.offered));
    const yy = y(lane(dir, c.to)) + OFFER_Y;
    svg.append(s('rect', { class: `offer offer-${c.status}`, 'data-offer': c.offer, x: x1, y: yy, width: Math.max(x(end) - x1, 3), height: 9, rx: 2 },
      s('title', {}, `${whatLabel(c.what)} → ${dir.name(c.to)}: ${statusLabel(c.status)}`)));
    if (c.deadline) {
      const xd = at(c.deadline);
      svg.append(s('line', { class: 'deadline-mark', x1: xd, x2: xd, y1: yy - 4, y2: yy + 14 }));
    }
  }

  // Events.
  for (const e of events) {
    const cat = CATEGORY[e.type] || 'other';
    const cx = at(e.occurred_at);
    const cy = y(lane(dir, orgOf(e))) + MID_Y;
    svg.append(marker(cat, cx, cy, `${e.type} · ${shortDateTime(new Date(e.occurred_at))}${orgOf(e) ? ' · ' + dir.name(orgOf(e)) : ''}`));
  }

  if (open) {
    const xn = x(+now);
    svg.append(
      s('line', { class: 'now-line', x1: xn, x2: xn, y1: top - 4, y2: H - 8 }),
      s('text', { class: 'now-label', x: xn - 4, y: H - 12, 'text-anchor': 'end' }, t('pathway.now')));
  }
  return svg;
}

function clockShort(d) {
  return clock(d).replace(/[.:]\d\d$/, '');
}

function marker(cat, cx, cy, tip) {
  const cls = `event event-${cat}`;
  const title = s('title', {}, tip);
  switch (cat) {
    case 'offer': return s('path', { class: cls, d: `M${cx} ${cy - 7}L${cx + 7} ${cy}L${cx} ${cy + 7}L${cx - 7} ${cy}Z` }, title);
    case 'answer': return s('path', { class: cls, d: `M${cx} ${cy - 7}L${cx + 7} ${cy + 6}L${cx - 7} ${cy + 6}Z` }, title);
    case 'document': return s('rect', { class: cls, x: cx - 5, y: cy - 5, width: 10, height: 10 }, title);
    case 'deadline': return s('path', { class: cls, d: `M${cx - 5} ${cy - 5}L${cx + 5} ${cy + 5}M${cx + 5} ${cy - 5}L${cx - 5} ${cy + 5}` }, title);
    default: return s('circle', { class: cls, cx, cy, r: 6 }, title);
  }
}

// legend explains every mark the timeline draws, drawn as it draws them.
function legend() {
  const item = (key, shape) => h('li', { dataset: { legend: key } },
    s('svg', { viewBox: '0 0 24 20', width: 24, height: 20, 'aria-hidden': 'true', focusable: 'false' }, shape), t('pathway.legend.' + key));
  return h('ul', { class: 'timeline-legend', id: 'timeline-legend' },
    item('stay', s('circle', { class: 'event event-stay', cx: 12, cy: 10, r: 6 })),
    item('offer', s('rect', { class: 'offer offer-pending', x: 2, y: 5, width: 20, height: 10, rx: 2 })),
    item('accepted', s('rect', { class: 'offer offer-accepted', x: 2, y: 5, width: 20, height: 10, rx: 2 })),
    item('rejected', s('rect', { class: 'offer offer-rejected', x: 2, y: 5, width: 20, height: 10, rx: 2 })),
    item('withdrawn', s('rect', { class: 'offer offer-withdrawn', x: 2, y: 5, width: 20, height: 10, rx: 2 })),
    item('deadline-mark', s('line', { class: 'deadline-mark', x1: 12, x2: 12, y1: 1, y2: 19 })),
    item('answer', s('path', { class: 'event event-answer', d: 'M12 3L19 16L5 16Z' })),
    item('document', s('rect', { class: 'event event-document', x: 7, y: 5, width: 10, height: 10 })),
    item('deadline', s('path', { class: 'event event-deadline', d: 'M7 5L17 15M17 5L7 15' })),
    item('hold', s('rect', { class: 'hold', x: 2, y: 7, width: 20, height: 6 })),
    item('gap', s('rect', { class: 'gap gap-open', x: 2, y: 4, width: 20, height: 12, rx: 2 })),
    item('gap-closed', s('rect', { class: 'gap gap-closed', x: 2, y: 4, width: 20, height: 12, rx: 2 })),
    item('gap-span', s('rect', { class: 'gap-span legend-span', x: 0, y: 0, width: 24, height: 20 })),
    item('now', s('line', { class: 'now-line', x1: 12, x2: 12, y1: 1, y2: 19 })));
}

// lateness lists what is late, and by how much, and the deadlines still
// running.
function lateness(pw, dir, now) {
  const items = [];
  for (const g of pw.open_gaps) {
    const who = g.closers.map(c => dir.name(c)).join(', ') || t('none');
    items.push(h('li', { class: 'late', dataset: { gap: g.id } },
      t('pathway.late.gap', { kind: kindLabel(g.kind), who, late: duration(overdue(g, now)) })));
  }
  for (const c of pw.owner.chain) {
    if (!c.deadline) continue;
    const dl = new Date(c.deadline);
    if (c.status === 'pending' && now > dl) {
      items.push(h('li', { class: 'late' }, t('pathway.late.offer', { what: whatLabel(c.what), offer: c.offer, to: dir.name(c.to), late: duration(now - dl) })));
    } else if (c.answered && new Date(c.answered) > dl) {
      items.push(h('li', { class: 'late late-past' }, t('pathway.late.answered', { what: whatLabel(c.what), offer: c.offer, to: dir.name(c.to), late: duration(new Date(c.answered) - dl) })));
    }
  }
  const upcoming = pw.deadlines.filter(d => new Date(d.at) > now).map(d => h('li', {},
    t('pathway.upcoming', { kind: kindLabel(d.kind), ref: d.ref, left: duration(new Date(d.at) - now) })));
  return [
    items.length ? h('ul', { class: 'late-list', id: 'late-list' }, items) : h('p', { id: 'late-list' }, t('pathway.nothinglate')),
    upcoming.length ? h('ul', { class: 'upcoming-list' }, upcoming) : null,
  ];
}

function details(e, dir) {
  const parts = [];
  for (const [k, v] of Object.entries(e.data || {})) {
    if (k === 'patient' || v === null || typeof v === 'object' || v === '') continue;
    let text = String(v);
    if (typeof v === 'string' && /^(sor|kommune|yder|region):/.test(v)) text = dir.name(v);
    else if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) text = dateTime(v);
    parts.push(`${k}: ${text}`);
  }
  return parts.join(' · ');
}

// patient shows who the pathway is about: the name and CPR number for an
// organisation in the patient's care (the read is in the access log), else
// the pseudonym and why.
function patient(pw, me, nocare) {
  if (!pw.identity) {
    const why = me.operator ? 'pathway.patient.operator' : nocare ? 'pathway.patient.nocare' : 'pathway.patient.none';
    return [h('code', {}, pw.patient), h('span', { class: 'hint', id: 'patient-pseudonym' }, ' ', t(why))];
  }
  if (pw.identity.shredded) return h('span', { id: 'patient-identity' }, t('patient.shredded'));
  return [h('strong', { id: 'patient-identity', class: 'identity' }, pw.identity.name || t('dash'), pw.identity.cpr ? ', ' + formatCPR(pw.identity.cpr) : ''),
    h('span', { class: 'hint' }, ' ', t('pathway.patient.logged'))];
}

function draw(pw, dir, now, { me, status, reload, nocare }) {
  const chain = pw.owner.chain;
  const holders = pw.owner.holders;
  const mine = o => !me.operator && o === me.org && pw.status !== 'closed';
  return [
    section('summary-title', t('pathway.summary'),
      h('dl', { class: 'facts' },
        h('dt', {}, t('pathway.patient')), h('dd', {}, patient(pw, me, nocare)),
        h('dt', {}, t('pathway.cluster')), h('dd', {}, dir.clusterName(pw.cluster)),
        h('dt', {}, t('pathway.municipality')), h('dd', {}, pw.municipality ? dir.name(pw.municipality) : t('dash')),
        h('dt', {}, t('pathway.gp')), h('dd', {}, pw.gp ? dir.name(pw.gp) : t('dash')),
        h('dt', {}, t('pathway.status')), h('dd', {}, t('pathway.status.' + (pw.status === 'closed' ? 'closed' : 'open'))),
        h('dt', {}, t('pathway.holders')), h('dd', {}, holders.length
          ? h('ul', { class: 'plain' }, holders.map(x => h('li', {}, `${whatLabel(x.what)}: ${dir.name(x.org)} (`, timeEl(x.since), ')',
            mine(x.org) && x.what !== 'hospital-stay' ? [' ', releaseAction({ pathway: pw.id, what: x.what, status, done: reload })] : null)))
          : h('strong', { class: 'warn' }, t('pathway.noholder'))))),
    section('late-title', t('pathway.late'), lateness(pw, dir, now)),
    section('timeline-title', t('pathway.timeline'),
      h('div', { class: 'timeline-wrap' }, timeline(pw, dir, now)), legend()),
    section('chain-title', t('pathway.chain'), chain.length
      ? scroller(t('pathway.chain'), table({
        head: [t('pathway.what'), t('pathway.from'), t('pathway.to'), t('pathway.offerstatus'), t('pathway.offered'), t('gaps.deadline'), t('pathway.answered'), t('action.title')],
        rows: chain.map(c => h('tr', { dataset: { offer: c.offer, status: c.status } },
          h('th', { scope: 'row', title: c.offer }, whatLabel(c.what)),
          h('td', {}, dir.name(c.from)), h('td', {}, dir.name(c.to)), h('td', {}, statusLabel(c.status)),
          h('td', {}, timeEl(c.offered)), h('td', {}, timeEl(c.deadline)), h('td', {}, timeEl(c.answered)),
          h('td', {}, c.status === 'pending' && mine(c.to) ? offerActions({ pathway: pw.id, offer: c.offer, what: c.what, status, done: reload }) : t('dash')))),
        attrs: { class: 'data', id: 'chain-table' },
      }))
      : h('p', {}, t('none'))),
    section('open-gaps-title', t('pathway.opengaps'), gapTable(pw.open_gaps, dir, now, 'open-gaps')),
    section('closed-gaps-title', t('pathway.closedgaps'), gapTable(pw.closed_gaps, dir, now, 'closed-gaps')),
    section('events-title', t('pathway.events'), scroller(t('pathway.events'), table({
      head: [t('pathway.when'), t('pathway.type'), t('pathway.actor'), t('pathway.details')],
      rows: pw.timeline.map(e => h('tr', { class: e.annulled ? 'annulled' : null },
        h('td', {}, timeEl(e.occurred_at)),
        h('th', { scope: 'row' }, e.type, e.annulled ? h('span', { class: 'badge' }, t('pathway.annulled')) : null),
        h('td', {}, e.actor?.org ? dir.name(e.actor.org) : (e.source?.system || t('dash'))),
        h('td', { class: 'details' }, details(e, dir)))),
      attrs: { class: 'data events' },
    }))),
  ];
}

function gapTable(gaps, dir, now, id) {
  if (!gaps.length) return h('p', { id }, t('none'));
  return scroller(t('gaps.title'), table({ head: gapHead(), rows: gaps.map(g => gapRow(g, dir, now)), attrs: { class: 'data gaps', id } }));
}

export async function render(ctx) {
  const { main, dir, rest, signal, me } = ctx;
  const id = rest[0] || '';
  const heading = h('h1', { tabindex: '-1' }, t('pathway.title', { id: shortID(id) }));
  const body = h('div', { id: 'pathway' });
  const status = actionStatus('pathway-status');
  // An organisation in the patient's care sees who the patient is
  // (MaySeePatient decides, on the server); one whose care has ended reads
  // by pseudonym. The operator's dashboard shows pseudonyms: running the
  // service needs no names.
  let path = '/v1/pathways/' + encodeURIComponent(id) + (me.operator ? '' : '?identity=true');
  let pw, nocare = false;
  try {
    pw = await get(path, { signal }).catch(async e => {
      if (me.operator || !(e instanceof APIError) || e.status !== 403) throw e;
      // Refused for the identity alone? The pathway by pseudonym says so.
      path = '/v1/pathways/' + encodeURIComponent(id);
      const plain = await get(path, { signal });
      nocare = true;
      return plain;
    });
  } catch (e) {
    if (!(e instanceof APIError) || (e.status !== 403 && e.status !== 404)) throw e;
    replace(main, heading, h('p', { class: 'message message-error', role: 'alert', id: 'pathway-error', dataset: { status: String(e.status) } },
      t(e.status === 403 ? 'pathway.forbidden' : 'pathway.notfound')));
    return null;
  }
  async function names() {
    const orgs = new Set([...pw.parties, ...pw.owner.chain.flatMap(c => [c.from, c.to]), ...[...pw.open_gaps, ...pw.closed_gaps].flatMap(g => g.closers)]);
    if (pw.gp) orgs.add(pw.gp);
    await Promise.all([...orgs].map(o => dir.ensure(o, signal)));
  }
  await names();
  // After an answer the pathway is read again at once.
  const reload = async () => {
    try {
      pw = await get(path, { signal });
      await names();
      if (!signal.aborted) ctx.refocus(() => replace(body, draw(pw, dir, new Date(), opts)));
    } catch (e) {
      if (!signal.aborted) replace(body, errorMessage(e));
    }
  };
  const opts = { me, status, reload, nocare };
  replace(body, draw(pw, dir, new Date(), opts));
  replace(main, heading, h('p', { class: 'subtle' }, h('code', {}, id)), status, body);
  return {
    // Every read of a pathway is written to the access log, so it is read
    // again only when an alert is about it; a pathway read comes from the
    // log itself, so the follow-up for the projections is not needed.
    async update(alerts, { follow } = {}) {
      if (follow || !alerts.some(a => a.pathway === id)) return;
      await reload();
    },
  };
}
