// An accessibility audit that TestDashboard runs in the page. It returns
// a list of problems (empty when none): landmarks, one h1 and no skipped
// heading level, a name for every control, link, button and image, th
// with scope, unique ids, and WCAG AA contrast for every visible text.
(() => {
  const problems = [];
  const where = el => {
    const id = el.id ? '#' + el.id : '';
    const cls = el.getAttribute('class') ? '.' + el.getAttribute('class').trim().split(/\s+/).join('.') : '';
    return `<${el.tagName.toLowerCase()}${id}${cls}> "${(el.textContent || '').trim().slice(0, 40)}"`;
  };
  const visible = el => {
    if (!el.getClientRects().length) return false;
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.visibility === 'hidden' || cs.display === 'none') return false;
      if (e.classList?.contains('visually-hidden')) return false;
    }
    return true;
  };
  const named = el => {
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    const lb = el.getAttribute('aria-labelledby');
    if (lb) return lb.split(/\s+/).every(id => (document.getElementById(id)?.textContent || '').trim());
    return false;
  };

  // Landmarks and headings.
  for (const [sel, what] of [['header', 'banner'], ['main', 'main'], ['footer', 'contentinfo']]) {
    if (document.querySelectorAll(sel).length !== 1) problems.push(`want one ${what} landmark (${sel})`);
  }
  const nav = document.querySelector('nav');
  if (nav && !nav.hidden && !named(nav)) problems.push('the navigation has no name');
  const h1s = [...document.querySelectorAll('h1')].filter(visible);
  if (h1s.length !== 1) problems.push(`want one visible h1; got ${h1s.length}`);
  let last = 0;
  for (const hd of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const level = +hd.tagName[1];
    if (last && level > last + 1) problems.push(`heading level skipped: h${last} then ${where(hd)}`);
    last = level;
  }

  // Names.
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!el.labels?.length && !named(el)) problems.push(`control without a label: ${where(el)}`);
  }
  for (const el of document.querySelectorAll('a[href], button')) {
    if (!el.textContent.trim() && !named(el)) problems.push(`link or button without a name: ${where(el)}`);
  }
  for (const svg of document.querySelectorAll('svg')) {
    if (svg.closest('[aria-hidden="true"]')) continue;
    if (svg.getAttribute('role') !== 'img' || !named(svg)) problems.push(`svg without role img and a name: ${where(svg)}`);
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push(`img without alt: ${where(img)}`);
  }

  // Tables.
  for (const th of document.querySelectorAll('th')) {
    if (!['col', 'row', 'colgroup', 'rowgroup'].includes(th.getAttribute('scope'))) problems.push(`th without scope: ${where(th)}`);
  }
  for (const tbl of document.querySelectorAll('table')) {
    if (!tbl.querySelector('th')) problems.push(`table without headers: ${where(tbl)}`);
  }

  // Ids.
  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push(`duplicate id ${el.id}`);
    seen.add(el.id);
  }

  // Contrast of every visible text outside SVG.
  const parse = c => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) layers.push(c);
      if (c && c.a === 1) break;
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const l of layers.reverse()) bg = over(l, bg);
    return bg;
  };
  const lum = ({ r, g, b }) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const checked = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || checked.has(el) || el.closest('svg, noscript, option, datalist')) continue;
    checked.add(el);
    if (!visible(el)) continue;
    const cs = getComputedStyle(el);
    const fg = parse(cs.color);
    if (!fg) continue;
    const bg = background(el);
    const L1 = lum(over(fg, bg)), L2 = lum(bg);
    const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && +cs.fontWeight >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)} for ${where(el)} (${cs.color} on rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)}))`);
  }
  return problems.slice(0, 40);
})()
