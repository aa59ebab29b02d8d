// Answering offers and giving responsibility back, where the
// coordinator sees them (the worklist, the pathway page), through the
// API's own commands with the organisation's token: the pathway rules
// decide, and a refusal is shown with its reason.

import { post } from './api.js';
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { whatLabel, showDone, showFailed } from './ui.js';

function offerPath(pathway, offer, verb) {
  return `/v1/pathways/${encodeURIComponent(pathway)}/offers/${encodeURIComponent(offer)}/${verb}`;
}

// busy disables a group of controls while a command is on its way.
function busy(controls, on) {
  for (const c of controls) c.disabled = on;
}

// offerActions are the accept and reject controls of one offer waiting
// for the signed-in organisation. status reports how it went; done runs
// after a command went through (the view reloads).
export function offerActions({ pathway, offer, what, status, done }) {
  const key = `${pathway}-${offer}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const cell = h('div', { class: 'actions-cell' });
  const accept = h('button', { type: 'button', class: 'button button-small', id: `accept-${key}`, dataset: { action: 'accept', offer } },
    t('action.accept'));
  const reject = h('button', { type: 'button', class: 'button-quiet button-small', id: `reject-${key}`, dataset: { action: 'reject', offer },
    'aria-expanded': 'false', 'aria-controls': `reject-form-${key}` }, t('action.reject'));
  const reason = h('input', { type: 'text', id: `reason-${key}`, name: 'reason', required: true, autocomplete: 'off', maxlength: '500' });
  const send = h('button', { type: 'submit', class: 'button button-small' }, t('action.reject.send'));
  const cancel = h('button', { type: 'button', class: 'button-quiet button-small' }, t('action.cancel'));
  const form = h('form', { class: 'reject-form', id: `reject-form-${key}`, hidden: true },
    h('label', { for: `reason-${key}` }, t('action.reject.reason', { what: whatLabel(what) })),
    reason, h('div', { class: 'actions' }, send, cancel));
  const controls = [accept, reject, send, cancel, reason];

  accept.addEventListener('click', async () => {
    busy(controls, true);
    try {
      await post(offerPath(pathway, offer, 'accept'), {});
      showDone(status, t('action.accepted', { what: whatLabel(what) }));
      done?.();
    } catch (e) {
      showFailed(status, e);
      busy(controls, false);
    }
  });
  reject.addEventListener('click', () => {
    form.hidden = !form.hidden;
    reject.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) reason.focus();
  });
  cancel.addEventListener('click', () => {
    form.hidden = true;
    reject.setAttribute('aria-expanded', 'false');
    reject.focus();
  });
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const why = reason.value.trim();
    if (!why) {
      reason.setAttribute('aria-invalid', 'true');
      showFailed(status, new Error(t('action.reject.noreason')));
      reason.focus();
      return;
    }
    busy(controls, true);
    try {
      await post(offerPath(pathway, offer, 'reject'), { reason: why });
      showDone(status, t('action.rejected', { what: whatLabel(what) }));
      done?.();
    } catch (e) {
      showFailed(status, e);
      busy(controls, false);
    }
  });
  return replace(cell, h('div', { class: 'actions' }, accept, reject), form);
}

// releaseAction gives a held responsibility back, after a confirmation.
export function releaseAction({ pathway, what, status, done }) {
  const key = `${what}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const ask = h('button', { type: 'button', class: 'button-quiet button-small', id: `release-${key}`, dataset: { action: 'release', what } },
    t('action.release'));
  const yes = h('button', { type: 'button', class: 'button button-small', id: `release-confirm-${key}` }, t('action.release.confirm'));
  const no = h('button', { type: 'button', class: 'button-quiet button-small' }, t('action.cancel'));
  const confirm = h('span', { class: 'confirm', hidden: true }, t('action.release.sure', { what: whatLabel(what) }), ' ', yes, no);
  ask.addEventListener('click', () => { confirm.hidden = false; ask.hidden = true; yes.focus(); });
  no.addEventListener('click', () => { confirm.hidden = true; ask.hidden = false; ask.focus(); });
  yes.addEventListener('click', async () => {
    busy([yes, no], true);
    try {
      await post(`/v1/pathways/${encodeURIComponent(pathway)}/release`, { what });
      showDone(status, t('action.released', { what: whatLabel(what) }));
      done?.();
    } catch (e) {
      showFailed(status, e);
      busy([yes, no], false);
    }
  });
  return h('span', { class: 'release' }, ask, confirm);
}
