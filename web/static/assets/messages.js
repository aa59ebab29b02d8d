// The message browser: the counters of each channel and sender (GET
// /v1/channels), inbound messages and dead letters searched by sender,
// channel, control id, time, error code, episode or pathway (GET
// /v1/messages: their receipts, no body opened), one message shown beside
// its translation (GET /v1/messages/{seq}: the read is in the access
// log), and reprocessing: one as received or with a corrected body, or
// every dead letter that matches, after a mapping fix (the operator's).

import { get, post, APIError } from './api.js';
import { h, replace, table, scroller } from './dom.js';
import { t, dateTime } from './i18n.js';
import { section, errorMessage, numTh, timeEl, pathwayLink, actionStatus, showDone, showFailed } from './ui.js';

const FIELDS = ['channel', 'sender', 'control_id', 'from', 'to', 'code', 'answer', 'status', 'episode', 'pathway'];
const MAX = 200;

function searchOf(query) {
  const q = new URLSearchParams();
  for (const f of FIELDS) if (query.get(f)) q.set(f, query.get(f));
  return q;
}

function answerBadge(r) {
  const cls = r.answer === 'AA' ? 'ok' : r.dead ? 'dead' : 'warn';
  return h('span', { class: `answer answer-${cls}`, title: t('messages.answer.' + r.answer) }, r.answer, r.dead ? ' · ' + t('messages.dead') : '');
}

function channels(list, dir, me) {
  if (!list.length) return h('p', { id: 'channels' }, t('messages.nochannels'));
  // Senders with dead letters first: what needs a look.
  list = list.slice().sort((a, b) => (b.dead_letters > 0) - (a.dead_letters > 0));
  return scroller(t('messages.channels'), table({
    caption: t(me.operator ? 'messages.channels.caption' : 'messages.channels.caption.own'),
    head: [t('messages.channel'), t('messages.sender'), t('messages.org'), numTh(t('messages.received')), numTh('AA'), numTh('AE'), numTh('AR'),
      numTh(t('messages.deadnow')), t('messages.lastseen')],
    rows: list.map(c => h('tr', { dataset: { channel: c.channel, sender: c.sender } },
      h('td', {}, t('channel.' + c.channel)),
      h('th', { scope: 'row' }, h('a', { href: '#/messages?' + new URLSearchParams({ channel: c.channel, sender: c.sender }) }, h('code', {}, c.sender))),
      h('td', {}, c.org ? dir.name(c.org) : t('dash')),
      h('td', { class: 'num' }, String(c.received)),
      ['AA', 'AE', 'AR'].map(a => h('td', { class: ['num', a !== 'AA' && c.answers[a] ? 'nonzero' : ''] }, String(c.answers[a] || 0))),
      h('td', { class: ['num', c.dead_letters ? 'nonzero warn' : ''] },
        c.dead_letters ? h('a', { href: '#/messages?' + new URLSearchParams({ channel: c.channel, sender: c.sender, status: 'dead' }) }, String(c.dead_letters)) : '0'),
      h('td', {}, timeEl(c.last_seen)))),
    attrs: { class: 'data', id: 'channels-table' },
  }));
}

function field(id, label, value, attrs = {}) {
  return h('div', { class: 'field' }, h('label', { for: id }, label),
    h('input', { id, name: id.replace(/^m-/, ''), type: 'text', value: value || '', autocomplete: 'off', spellcheck: 'false', ...attrs }));
}

function form(query) {
  const sel = (id, label, value, options) => h('div', { class: 'field' }, h('label', { for: id }, label),
    h('select', { id, name: id.replace(/^m-/, '') }, options.map(([v, text]) => h('option', { value: v, selected: v === (value || '') }, text))));
  const el = h('form', { class: 'filters compact', id: 'message-search', 'aria-labelledby': 'message-search-title' },
    h('h2', { id: 'message-search-title', class: 'visually-hidden' }, t('messages.search')),
    h('div', { class: 'filter-row' },
      sel('m-status', t('messages.status'), query.get('status'), [['', t('messages.status.all')], ['dead', t('messages.status.dead')]]),
      sel('m-channel', t('messages.channel'), query.get('channel'), [['', t('gaps.any')], ['hl7v2', t('channel.hl7v2')], ['medcom', t('channel.medcom')]]),
      field('m-sender', t('messages.sender'), query.get('sender')),
      field('m-control_id', t('messages.control'), query.get('control_id')),
      field('m-code', t('messages.code'), query.get('code'), { placeholder: 'unknown-organisation' }),
      h('div', { class: 'field' }, h('label', { for: 'm-from' }, t('trends.from')), h('input', { id: 'm-from', name: 'from', type: 'date', value: query.get('from') || '' })),
      h('div', { class: 'field' }, h('label', { for: 'm-to' }, t('trends.to')), h('input', { id: 'm-to', name: 'to', type: 'date', value: query.get('to') || '' })),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'button', id: 'm-apply' }, t('gaps.apply')),
        h('a', { href: '#/messages', class: 'button button-quiet' }, t('gaps.reset')))),
    h('details', { class: 'more-filters', open: Boolean(query.get('episode') || query.get('pathway') || query.get('answer')) },
      h('summary', {}, t('gaps.more')),
      h('div', { class: 'filter-row' },
        sel('m-answer', t('messages.answer'), query.get('answer'), [['', t('gaps.any')], ['AA', 'AA'], ['AE', 'AE'], ['AR', 'AR']]),
        field('m-episode', t('messages.episode'), query.get('episode')),
        field('m-pathway', t('gaps.pathway'), query.get('pathway'), { placeholder: '01…' }))));
  el.addEventListener('submit', ev => {
    ev.preventDefault();
    const data = new FormData(el);
    const q = new URLSearchParams();
    for (const f of FIELDS) if (String(data.get(f) || '').trim()) q.set(f, String(data.get(f)).trim());
    location.hash = '#/messages' + (q.toString() ? '?' + q : '');
  });
  return el;
}

function results(list, capped, { onShow }) {
  const count = h('p', { id: 'message-count', class: 'count', dataset: { count: String(list.length) } },
    t(list.length === 1 ? 'messages.count1' : 'messages.count', { n: list.length }), capped ? ' ' + t('gaps.capped', { n: MAX }) : '');
  if (!list.length) return [count, h('p', { class: 'message' }, t('messages.empty'))];
  return [count, scroller(t('messages.found'), table({
    caption: t('messages.found.caption'),
    head: [t('messages.received.at'), t('messages.channel'), t('messages.sender'), t('messages.control'), t('messages.answer'), t('messages.code'), t('gaps.pathway'), ''],
    rows: list.map(r => h('tr', { dataset: { seq: String(r.raw_seq), dead: String(r.dead) }, class: r.dead ? 'is-dead' : null },
      h('td', {}, timeEl(r.received_at)),
      h('td', {}, t('channel.' + r.system)),
      h('td', {}, h('code', {}, r.sender)),
      h('th', { scope: 'row' }, h('code', {}, r.control_id)),
      h('td', {}, answerBadge(r)),
      h('td', {}, r.code ? h('code', {}, r.code) : t('dash'), r.field ? h('span', { class: 'hint' }, ' ', r.field) : null),
      h('td', {}, r.pathway ? pathwayLink(r.pathway) : t('dash')),
      h('td', {}, h('button', { type: 'button', class: 'button-quiet button-small', dataset: { show: String(r.raw_seq) }, onclick: () => onShow(r.raw_seq) },
        t('messages.show'))))),
    attrs: { class: 'data', id: 'messages-table' },
  }))];
}

// translationPart shows what the translator makes of the message now.
function translationPart(tr, dir) {
  if (!tr.ok) {
    const e = tr.error || {};
    return h('div', { class: 'translation translation-error', id: 'translation' },
      h('p', { class: 'message message-error' }, t('messages.translation.failed')),
      h('dl', { class: 'facts' },
        h('dt', {}, t('messages.code')), h('dd', {}, h('code', {}, e.code || t('dash'))),
        h('dt', {}, t('messages.field')), h('dd', {}, e.field ? h('code', {}, e.field) : t('dash')),
        h('dt', {}, t('messages.reason')), h('dd', {}, e.reason || t('dash'))));
  }
  return h('div', { class: 'translation', id: 'translation' },
    h('p', { class: 'message message-ok' }, t(tr.events.length ? 'messages.translation.ok' : 'messages.translation.nothing', { n: tr.events.length })),
    h('dl', { class: 'facts' },
      h('dt', {}, t('messages.episode')), h('dd', {}, tr.episode ? h('code', {}, tr.episode) : t('dash')),
      h('dt', {}, t('pathway.when')), h('dd', {}, tr.occurred_at ? dateTime(tr.occurred_at) : t('dash')),
      h('dt', {}, t('pathway.lane.hospital')), h('dd', {}, tr.hospital ? dir.name(tr.hospital) : t('dash')),
      h('dt', {}, t('pathway.municipality')), h('dd', {}, tr.municipality ? dir.name(tr.municipality) : t('dash'))),
    h('ol', { class: 'event-list' }, tr.events.map(ev => h('li', {}, h('strong', {}, ev.type), ' ',
      h('code', { class: 'details' }, JSON.stringify(ev.data))))));
}

// detail shows one message beside its translation, with what the
// operator can do about a dead letter.
function detail(m, dir, me, { status, after }) {
  const r = m.receipt;
  const body = m.raw.body ?? '';
  // HL7 segments end in carriage returns: one to a line to read.
  const shown = body.replace(/\r\n?/g, '\n');
  const editable = me.operator && r.dead;
  const area = h('textarea', { id: 'raw-body', class: 'raw-body', rows: String(Math.min(24, Math.max(6, shown.split('\n').length + 1))),
    spellcheck: 'false', readonly: !editable, 'aria-describedby': 'raw-hint' }, shown);
  const actions = [];
  if (editable) {
    const asIs = h('button', { type: 'button', class: 'button-quiet', id: 'reprocess-one' }, t('messages.reprocess.one'));
    const fixed = h('button', { type: 'button', class: 'button', id: 'reprocess-fixed' }, t('messages.reprocess.fixed'));
    asIs.addEventListener('click', async () => {
      asIs.disabled = fixed.disabled = true;
      try {
        const out = await post('/v1/messages/reprocess', { seqs: [r.raw_seq] });
        const res = out.results[0];
        if (res?.ok) showDone(status, t('messages.reprocessed', { seq: r.raw_seq }));
        else showFailed(status, new Error(t('messages.reprocess.again', { code: res?.code || '', reason: res?.reason || '' })));
        after();
      } catch (e) {
        showFailed(status, e);
      } finally {
        asIs.disabled = fixed.disabled = false;
      }
    });
    fixed.addEventListener('click', async () => {
      asIs.disabled = fixed.disabled = true;
      // The sender's line ends: HL7 segments end in carriage returns.
      const text = r.system === 'hl7v2' ? area.value.replace(/\r?\n/g, '\r').replace(/\r+$/, '') + '\r' : area.value;
      try {
        const out = await post(`/v1/dead-letters/${r.raw_seq}/replay`, text, { raw: true });
        showDone(status, t('messages.fixed', { seq: r.raw_seq, fixed: out.raw_seq }));
        after();
      } catch (e) {
        showFailed(status, e);
      } finally {
        asIs.disabled = fixed.disabled = false;
      }
    });
    actions.push(h('div', { class: 'actions' }, fixed, asIs));
  }
  return section('message-title', t('messages.one', { seq: r.raw_seq }),
    h('p', { class: 'subtle' }, t('messages.logged')),
    h('dl', { class: 'facts', id: 'message-facts' },
      h('dt', {}, t('messages.channel')), h('dd', {}, t('channel.' + r.system)),
      h('dt', {}, t('messages.sender')), h('dd', {}, h('code', {}, r.sender), r.org ? ` (${dir.name(r.org)})` : ''),
      h('dt', {}, t('messages.control')), h('dd', {}, h('code', {}, r.control_id)),
      h('dt', {}, t('messages.received.at')), h('dd', {}, timeEl(r.received_at)),
      h('dt', {}, t('messages.answer')), h('dd', {}, answerBadge(r)),
      m.dead_letter ? [h('dt', {}, t('messages.deadletter')), h('dd', { id: 'dead-reason' },
        h('code', {}, m.dead_letter.code), m.dead_letter.field ? [' ', h('code', {}, m.dead_letter.field)] : null, ': ', m.dead_letter.reason,
        ' ', t('messages.retries', { n: m.dead_letter.retries }))] : null,
      r.pathway ? [h('dt', {}, t('gaps.pathway')), h('dd', {}, pathwayLink(r.pathway))] : null),
    h('div', { class: 'side-by-side' },
      h('div', {},
        h('h3', {}, h('label', { for: 'raw-body' }, t('messages.raw'))),
        h('p', { id: 'raw-hint', class: 'hint' }, t(editable ? 'messages.raw.edit' : 'messages.raw.read')),
        area, ...actions),
      h('div', {}, h('h3', {}, t('messages.translation')), translationPart(m.translation, dir))));
}

export async function render(ctx) {
  const { main, dir, me, query, signal } = ctx;
  const q = searchOf(query);
  const status = actionStatus('message-status');
  const channelsPart = h('div', { id: 'channels' });
  const found = h('div', { id: 'message-results' });
  const shown = h('div', { id: 'message-detail' });
  const bulk = h('div', { id: 'message-bulk' });
  let seq = Number(query.get('seq')) || 0;

  async function loadList() {
    const [chans, page] = await Promise.all([
      get('/v1/channels', { signal }),
      get('/v1/messages?' + new URLSearchParams([...q, ['limit', String(MAX)]]), { signal }),
    ]);
    const orgs = new Set([...chans.items.map(c => c.org), ...page.items.map(r => r.org)].filter(Boolean));
    await Promise.all([...orgs].map(o => dir.ensure(o, signal)));
    return { chans: chans.items, list: page.items, capped: Boolean(page.next) };
  }
  function drawList({ chans, list, capped }) {
    replace(channelsPart, channels(chans, dir, me));
    replace(found, results(list, capped, { onShow: show }));
    const dead = list.filter(r => r.dead).length;
    replace(bulk, me.operator && dead ? bulkReprocess(dead, capped) : null);
  }
  function bulkReprocess(dead, capped) {
    const button = h('button', { type: 'button', class: 'button', id: 'reprocess-all' }, t('messages.reprocess.all', { n: capped ? `${dead}+` : dead }));
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const out = await post('/v1/messages/reprocess?' + q, {});
        showDone(status, t('messages.reprocessed.all', { ok: out.succeeded, failed: out.failed }) + (out.more ? ' ' + t('messages.reprocess.more') : ''));
        await refresh();
      } catch (e) {
        showFailed(status, e);
      } finally {
        button.disabled = false;
      }
    });
    return h('p', { class: 'bulk' }, button, ' ', h('span', { class: 'hint' }, t('messages.reprocess.hint')));
  }
  async function show(n) {
    seq = n;
    const hq = new URLSearchParams(q);
    hq.set('seq', String(n));
    // Keep the place in the history without a second render.
    history.replaceState(null, '', '#/messages?' + hq);
    replace(shown, h('p', { class: 'loading' }, t('loading')));
    try {
      const m = await get(`/v1/messages/${n}`, { signal });
      await Promise.all([m.receipt.org, m.translation.hospital, m.translation.municipality].filter(Boolean).map(o => dir.ensure(o, signal)));
      replace(shown, detail(m, dir, me, { status, after: refresh }));
      shown.querySelector('h2')?.setAttribute('tabindex', '-1');
      shown.querySelector('h2')?.focus();
    } catch (e) {
      if (e instanceof APIError || !signal.aborted) replace(shown, errorMessage(e));
    }
  }
  async function refresh() {
    const next = await loadList();
    if (signal.aborted) return;
    ctx.refocus(() => drawList(next));
    if (seq) await show(seq);
  }

  replace(main,
    h('h1', { tabindex: '-1' }, t('messages.title')),
    h('p', {}, t(me.operator ? 'messages.intro' : 'messages.intro.own')),
    section('channels-title', t('messages.channels'), channelsPart),
    form(query), status, bulk,
    section('found-title', t('messages.found'), found),
    shown);
  try {
    drawList(await loadList());
  } catch (e) {
    replace(found, errorMessage(e));
  }
  if (seq) await show(seq);
  return {
    async update(alerts) {
      // New dead letters come with no alert; a gap may mean a message.
      if (alerts?.length && !alerts.some(a => a.kind.startsWith('gap-'))) return;
      const next = await loadList();
      if (signal.aborted) return;
      ctx.refocus(() => drawList(next));
    },
  };
}
