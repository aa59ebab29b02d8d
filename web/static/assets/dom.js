// Small helpers to build the DOM without innerHTML, so that nothing the
// API returns is ever parsed as markup.

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h makes an HTML element: h('a', {href: '#/'}, 'text', child, …).
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

// hidden is text for screen readers only.
export function hidden(text) {
  return h('span', { class: 'visually-hidden' }, text);
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// table builds a table with a caption, a header row of column headers
// (scope col) and rows; a cell given as {th: …} is a row header.
export function table({ caption, head, rows, attrs }) {
  return h('table', attrs || {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, head.map(c => (c instanceof Node && c.tagName === 'TH') ? c : h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows));
}

// scroller wraps a wide table in a region that keyboard users can scroll.
export function scroller(label, child) {
  return h('div', { class: 'scroller', role: 'region', 'aria-label': label, tabindex: '0' }, child);
}
