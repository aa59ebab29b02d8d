// Labels in Danish (the default) and English, and the formatting of
// times and durations. Counts are never formatted: the dashboard shows
// them exactly as the API gives them.

const da = {
  'title': 'Stafet',
  'skip': 'Spring til indhold',
  'tagline': 'Hvem har stafetten?',
  'nav': 'Hovedmenu',
  'nav.overview': 'Oversigt',
  'nav.gaps': 'Huller',
  'nav.worklist': 'Arbejdsliste',
  'nav.figures': 'Nøgletal',
  'signout': 'Log ud',
  'lang.switch': 'English',
  'footer': 'Stafet følger overdragelser mellem hospital, kommune og praktiserende læge. Ingen CPR-numre eller navne vises her.',

  'signin.title': 'Log ind',
  'signin.intro': 'Indsæt din organisations adgangsnøgle (token) eller operatørens. Nøglen gemmes kun i denne fane og slettes, når fanen lukkes.',
  'signin.token': 'Adgangsnøgle',
  'signin.hint': 'Begynder typisk med stf_',
  'signin.submit': 'Log ind',
  'signin.unknown': 'Nøglen blev ikke genkendt (401). Tjek, at den er kopieret helt.',
  'signin.failed': 'Kunne ikke logge ind: {msg}',
  'signin.empty': 'Indsæt en adgangsnøgle.',
  'who.operator': 'Operatør — ser alt',
  'who.org': 'Logget ind som {name}',

  'live.connecting': 'Live: forbinder …',
  'live.open': 'Live: forbundet',
  'live.closed': 'Live: afbrudt — prøver igen',
  'live.unavailable': 'Live: ikke tilgængelig',
  'live.opened': '{n} nye huller',
  'live.opened1': '1 nyt hul',
  'live.closed1': '1 hul lukket',
  'live.closedn': '{n} huller lukket',
  'live.offer': 'Nyt tilbud modtaget',
  'live.updated': 'Opdateret {time}',

  'loading': 'Henter …',
  'error': 'Noget gik galt: {msg}',
  'error.403': 'Du har ikke adgang til dette (403). Forsøget er registreret i adgangsloggen.',
  'error.404': 'Findes ikke (404).',
  'error.401': 'Din adgangsnøgle gælder ikke længere (401). Log ind igen.',
  'none': 'Ingen',
  'dash': '–',
  'refresh': 'Opdater',
  'asof': 'Opgjort {time}',
  'noaccess': 'ingen adgang',

  'kind.no-owner': 'Ingen ansvarlig',
  'kind.offer-overdue': 'Tilbud ikke besvaret',
  'kind.offer-rejected': 'Tilbud afvist',
  'kind.discharged-before-accept': 'Udskrevet før accept',
  'kind.document-overdue': 'Dokument forsinket',
  'kind.ready-but-waiting': 'Færdigbehandlet, venter',
  'age.0': 'under 4 t',
  'age.1': '4–24 t',
  'age.2': '1–3 døgn',
  'age.3': '3–7 døgn',
  'age.4': '7 døgn eller mere',
  'age.short.0': '< 4 t',
  'age.short.1': '4–24 t',
  'age.short.2': '1–3 d',
  'age.short.3': '3–7 d',
  'age.short.4': '≥ 7 d',
  'severity.info': 'info',
  'severity.warning': 'advarsel',
  'severity.critical': 'kritisk',

  'overview.title': 'Oversigt',
  'overview.clusters': 'Sundhedsklynger: åbne huller',
  'overview.clusters.caption': 'Åbne huller pr. sundhedsklynge efter type og alder. Vælg en klynge for at se dens huller.',
  'overview.cluster': 'Klynge',
  'overview.bykind': 'Efter type',
  'overview.byage': 'Efter alder',
  'overview.total': 'I alt',
  'overview.municipalities': 'Kommuner: åbne huller pr. 10 000 indbyggere',
  'overview.municipalities.intro': 'Hver flise er en kommune, farvet efter åbne huller pr. 10 000 indbyggere. Tallet er antallet af åbne huller. Vælg en kommune for at se dens huller.',
  'overview.legend': 'Forklaring: åbne huller pr. 10 000 indbyggere',
  'overview.opengaps': 'åbne huller',
  'overview.per10k': 'pr. 10 000 indbyggere',
  'overview.population': '{n} indbyggere',
  'overview.legend.noaccess': 'ingen adgang (uden for dine klynger)',

  'gaps.title': 'Huller',
  'gaps.filters': 'Filtre',
  'gaps.cluster': 'Klynge',
  'gaps.municipality': 'Kommune',
  'gaps.org': 'Organisation, der kan lukke hullet',
  'gaps.org.hint': 'F.eks. kommune:0751 eller sor:…',
  'gaps.kind': 'Type',
  'gaps.age': 'Alder',
  'gaps.status': 'Status',
  'gaps.status.open': 'Åbne',
  'gaps.status.closed': 'Lukkede',
  'gaps.status.all': 'Alle',
  'gaps.sort': 'Sortering',
  'gaps.sort.oldest': 'Ældste først',
  'gaps.sort.newest': 'Nyeste først',
  'gaps.sort.deadline': 'Frist',
  'gaps.sort.late': 'Mest forsinket først',
  'gaps.sort.kind': 'Type',
  'gaps.sort.cluster': 'Klynge',
  'gaps.any': 'Alle',
  'gaps.apply': 'Vis',
  'gaps.reset': 'Nulstil',
  'gaps.count': '{n} huller',
  'gaps.count1': '1 hul',
  'gaps.capped': 'Viser de første {n}; indsnævr med filtrene.',
  'gaps.caption': 'Huller, {sort}',
  'gaps.opened': 'Åbnet',
  'gaps.closers': 'Skal handle',
  'gaps.deadline': 'Frist',
  'gaps.late': 'Forsinket',
  'gaps.severity': 'Alvor',
  'gaps.pathway': 'Forløb',
  'gaps.open': 'Forløb {id}',
  'gaps.new': 'ny',
  'gaps.closed': 'lukket',
  'gaps.empty': 'Ingen huller matcher filtrene.',

  'pathway.title': 'Forløb {id}',
  'pathway.summary': 'Overblik',
  'pathway.cluster': 'Klynge',
  'pathway.municipality': 'Kommune',
  'pathway.status': 'Status',
  'pathway.patient': 'Patient (pseudonym)',
  'pathway.holders': 'Har stafetten nu',
  'pathway.noholder': 'Ingen har stafetten',
  'pathway.status.open': 'åbent',
  'pathway.status.closed': 'lukket',
  'pathway.late': 'Hvad er forsinket',
  'pathway.nothinglate': 'Intet er forsinket lige nu.',
  'pathway.late.gap': '{kind}: venter på {who} — forsinket {late}',
  'pathway.late.offer': 'Tilbud om {what} ({offer}) til {to}: ikke besvaret, fristen er overskredet med {late}',
  'pathway.late.answered': 'Tilbud om {what} ({offer}) til {to}: besvaret {late} efter fristen',
  'pathway.upcoming': 'Frist for {kind} ({ref}) om {left}',
  'pathway.timeline': 'Tidslinje',
  'pathway.timeline.desc': 'Svømmebaner for hospital, kommune og praktiserende læge. Huller er tegnet med rødt. Alle hændelser står også i tabellen nedenfor.',
  'pathway.lane.hospital': 'Hospital',
  'pathway.lane.municipality': 'Kommune',
  'pathway.lane.gp': 'Egen læge',
  'pathway.lane.stafet': 'Stafet',
  'pathway.now': 'nu',
  'pathway.legend.stay': 'Indlæggelse, overflytning, udskrivning',
  'pathway.legend.offer': 'Tilbud (bjælke til svar)',
  'pathway.legend.answer': 'Accept, afvisning',
  'pathway.legend.document': 'Dokument',
  'pathway.legend.deadline': 'Frist overskredet',
  'pathway.legend.gap': 'Hul (rødt)',
  'pathway.chain': 'Stafetten: tilbud og svar',
  'pathway.offer': 'Tilbud',
  'pathway.what': 'Hvad',
  'pathway.from': 'Fra',
  'pathway.to': 'Til',
  'pathway.offered': 'Tilbudt',
  'pathway.answered': 'Besvaret',
  'pathway.offerstatus': 'Status',
  'pathway.opengaps': 'Åbne huller',
  'pathway.closedgaps': 'Lukkede huller',
  'pathway.closedat': 'Lukket',
  'pathway.events': 'Hændelser',
  'pathway.when': 'Tidspunkt',
  'pathway.type': 'Hændelse',
  'pathway.actor': 'Aktør',
  'pathway.details': 'Detaljer',
  'pathway.annulled': 'annulleret',
  'pathway.forbidden': 'Du har ikke adgang til dette forløb (403). Kun forløbets parter kan se det, og forsøget er registreret i adgangsloggen.',
  'pathway.notfound': 'Forløbet findes ikke (404).',

  'worklist.title': 'Arbejdsliste',
  'worklist.for': 'Arbejdsliste for {name}',
  'worklist.choose': 'Organisation',
  'worklist.operator': 'Operatøren har ingen egen arbejdsliste. Vælg en organisation.',
  'worklist.show': 'Vis',
  'worklist.offers': 'Tilbud, der venter på svar',
  'worklist.offers.caption': 'Tilbud til {name}, tidligste frist først',
  'worklist.gaps': 'Huller, du kan lukke',
  'worklist.gaps.caption': 'Åbne huller, {name} kan lukke, kritiske først',
  'worklist.overdue': 'overskredet',
  'worklist.paused': 'sat på pause (orlov)',
  'worklist.ontime': 'i tide',
  'worklist.nooffers': 'Ingen tilbud venter.',
  'worklist.nogaps': 'Ingen åbne huller.',

  'figures.title': 'Nøgletal',
  'figures.scope': 'Klynge (for sengedage og dag for dag)',
  'figures.show': 'Vis',
  'figures.o2a': 'Tid fra tilbud til accept',
  'figures.o2a.intro': 'Median og 90. percentil pr. klynge for accepterede tilbud. Medianerne er øvre grænser inden for 25 %.',
  'figures.o2a.caption': 'Tid fra tilbud til accept pr. klynge',
  'figures.count': 'Accepterede',
  'figures.median': 'Median',
  'figures.p90': '90. percentil',
  'figures.ready': 'Færdigbehandlede sengedage pr. kommune pr. uge',
  'figures.ready.intro': 'Dage, hvor patienter var færdigbehandlede men endnu på hospitalet, de seneste 30 dage, lagt sammen pr. uge (mandag–søndag).',
  'figures.ready.caption': 'Færdigbehandlede sengedage i kommunerne i klynge {name}',
  'figures.week': 'Uge {n}',
  'figures.readynow': 'Færdigbehandlede nu',
  'figures.readytotal': 'Sengedage i alt',
  'figures.daily': 'Vis dag for dag i klynge {name}',
  'figures.dailytitle': 'Dag for dag',
  'figures.day': 'Dag',
  'figures.admissions': 'Indlæggelser',
  'figures.discharges': 'Udskrivninger',
  'figures.gapsopened': 'Huller åbnet',
  'figures.gapsclosed': 'Huller lukket',
  'figures.readydays': 'Færdigbehandlede sengedage',
  'figures.nodata': 'Ingen data endnu.',

  'what.hospital-stay': 'indlæggelse',
  'what.home-care': 'hjemmepleje',
  'what.home-nursing': 'hjemmesygepleje',
  'what.rehabilitation': 'genoptræning',
  'what.gp-follow-up': 'opfølgning hos egen læge',
  'what.nursing-home': 'plejebolig',
  'what.municipal-bed': 'kommunal akutplads',
  'what.discharge-planning': 'udskrivningsplanlægning',
  'offerstatus.pending': 'afventer',
  'offerstatus.accepted': 'accepteret',
  'offerstatus.rejected': 'afvist',
  'offerstatus.withdrawn': 'trukket tilbage',
  'offerstatus.expired': 'udløbet',

  'dur.min': '{n} min',
  'dur.h': '{n} t',
  'dur.d': '{n} d',
  'dur.s': '{n} s',
};

const en = {
  'title': 'Stafet',
  'skip': 'Skip to content',
  'tagline': 'Who holds the baton?',
  'nav': 'Main menu',
  'nav.overview': 'Overview',
  'nav.gaps': 'Gaps',
  'nav.worklist': 'Worklist',
  'nav.figures': 'Figures',
  'signout': 'Sign out',
  'lang.switch': 'Dansk',
  'footer': 'Stafet follows handoffs between hospital, municipality and general practitioner. No CPR numbers or names are shown here.',

  'signin.title': 'Sign in',
  'signin.intro': "Paste your organisation's access token or the operator's. It is kept in this tab only and forgotten when the tab closes.",
  'signin.token': 'Access token',
  'signin.hint': 'Usually starts with stf_',
  'signin.submit': 'Sign in',
  'signin.unknown': 'The token was not recognised (401). Check that it was copied whole.',
  'signin.failed': 'Could not sign in: {msg}',
  'signin.empty': 'Paste an access token.',
  'who.operator': 'Operator — sees everything',
  'who.org': 'Signed in as {name}',

  'live.connecting': 'Live: connecting …',
  'live.open': 'Live: connected',
  'live.closed': 'Live: disconnected — retrying',
  'live.unavailable': 'Live: not available',
  'live.opened': '{n} new gaps',
  'live.opened1': '1 new gap',
  'live.closed1': '1 gap closed',
  'live.closedn': '{n} gaps closed',
  'live.offer': 'New offer received',
  'live.updated': 'Updated {time}',

  'loading': 'Loading …',
  'error': 'Something went wrong: {msg}',
  'error.403': 'You do not have access to this (403). The attempt is recorded in the access log.',
  'error.404': 'Not found (404).',
  'error.401': 'Your access token is no longer valid (401). Sign in again.',
  'none': 'None',
  'dash': '–',
  'refresh': 'Refresh',
  'asof': 'As of {time}',
  'noaccess': 'no access',

  'kind.no-owner': 'No owner',
  'kind.offer-overdue': 'Offer overdue',
  'kind.offer-rejected': 'Offer rejected',
  'kind.discharged-before-accept': 'Discharged before acceptance',
  'kind.document-overdue': 'Document overdue',
  'kind.ready-but-waiting': 'Ready but waiting',
  'age.0': 'under 4 h',
  'age.1': '4–24 h',
  'age.2': '1–3 days',
  'age.3': '3–7 days',
  'age.4': '7 days or more',
  'age.short.0': '< 4 h',
  'age.short.1': '4–24 h',
  'age.short.2': '1–3 d',
  'age.short.3': '3–7 d',
  'age.short.4': '≥ 7 d',
  'severity.info': 'info',
  'severity.warning': 'warning',
  'severity.critical': 'critical',

  'overview.title': 'Overview',
  'overview.clusters': 'Health clusters: open gaps',
  'overview.clusters.caption': 'Open gaps per health cluster by kind and age. Choose a cluster to see its gaps.',
  'overview.cluster': 'Cluster',
  'overview.bykind': 'By kind',
  'overview.byage': 'By age',
  'overview.total': 'Total',
  'overview.municipalities': 'Municipalities: open gaps per 10,000 inhabitants',
  'overview.municipalities.intro': 'Each tile is a municipality, coloured by open gaps per 10,000 inhabitants. The number is the count of open gaps. Choose a municipality to see its gaps.',
  'overview.legend': 'Legend: open gaps per 10,000 inhabitants',
  'overview.opengaps': 'open gaps',
  'overview.per10k': 'per 10,000 inhabitants',
  'overview.population': '{n} inhabitants',
  'overview.legend.noaccess': 'no access (outside your clusters)',

  'gaps.title': 'Gaps',
  'gaps.filters': 'Filters',
  'gaps.cluster': 'Cluster',
  'gaps.municipality': 'Municipality',
  'gaps.org': 'Organisation that can close the gap',
  'gaps.org.hint': 'E.g. kommune:0751 or sor:…',
  'gaps.kind': 'Kind',
  'gaps.age': 'Age',
  'gaps.status': 'Status',
  'gaps.status.open': 'Open',
  'gaps.status.closed': 'Closed',
  'gaps.status.all': 'All',
  'gaps.sort': 'Sort',
  'gaps.sort.oldest': 'Oldest first',
  'gaps.sort.newest': 'Newest first',
  'gaps.sort.deadline': 'Deadline',
  'gaps.sort.late': 'Most overdue first',
  'gaps.sort.kind': 'Kind',
  'gaps.sort.cluster': 'Cluster',
  'gaps.any': 'All',
  'gaps.apply': 'Show',
  'gaps.reset': 'Reset',
  'gaps.count': '{n} gaps',
  'gaps.count1': '1 gap',
  'gaps.capped': 'Showing the first {n}; narrow with the filters.',
  'gaps.caption': 'Gaps, {sort}',
  'gaps.opened': 'Opened',
  'gaps.closers': 'Must act',
  'gaps.deadline': 'Deadline',
  'gaps.late': 'Overdue by',
  'gaps.severity': 'Severity',
  'gaps.pathway': 'Pathway',
  'gaps.open': 'Pathway {id}',
  'gaps.new': 'new',
  'gaps.closed': 'closed',
  'gaps.empty': 'No gaps match the filters.',

  'pathway.title': 'Pathway {id}',
  'pathway.summary': 'Summary',
  'pathway.cluster': 'Cluster',
  'pathway.municipality': 'Municipality',
  'pathway.status': 'Status',
  'pathway.patient': 'Patient (pseudonym)',
  'pathway.holders': 'Holds the baton now',
  'pathway.noholder': 'Nobody holds the baton',
  'pathway.status.open': 'open',
  'pathway.status.closed': 'closed',
  'pathway.late': 'What is late',
  'pathway.nothinglate': 'Nothing is late right now.',
  'pathway.late.gap': '{kind}: waiting for {who} — overdue by {late}',
  'pathway.late.offer': 'Offer of {what} ({offer}) to {to}: unanswered, deadline passed {late} ago',
  'pathway.late.answered': 'Offer of {what} ({offer}) to {to}: answered {late} after the deadline',
  'pathway.upcoming': 'Deadline for {kind} ({ref}) in {left}',
  'pathway.timeline': 'Timeline',
  'pathway.timeline.desc': 'Swimlanes for hospital, municipality and general practitioner. Gaps are drawn in red. Every event is also in the table below.',
  'pathway.lane.hospital': 'Hospital',
  'pathway.lane.municipality': 'Municipality',
  'pathway.lane.gp': 'GP',
  'pathway.lane.stafet': 'Stafet',
  'pathway.now': 'now',
  'pathway.legend.stay': 'Admission, transfer, discharge',
  'pathway.legend.offer': 'Offer (bar until the answer)',
  'pathway.legend.answer': 'Acceptance, rejection',
  'pathway.legend.document': 'Document',
  'pathway.legend.deadline': 'Deadline passed',
  'pathway.legend.gap': 'Gap (red)',
  'pathway.chain': 'The baton: offers and answers',
  'pathway.offer': 'Offer',
  'pathway.what': 'What',
  'pathway.from': 'From',
  'pathway.to': 'To',
  'pathway.offered': 'Offered',
  'pathway.answered': 'Answered',
  'pathway.offerstatus': 'Status',
  'pathway.opengaps': 'Open gaps',
  'pathway.closedgaps': 'Closed gaps',
  'pathway.closedat': 'Closed',
  'pathway.events': 'Events',
  'pathway.when': 'When',
  'pathway.type': 'Event',
  'pathway.actor': 'Actor',
  'pathway.details': 'Details',
  'pathway.annulled': 'annulled',
  'pathway.forbidden': "You do not have access to this pathway (403). Only the pathway's parties may see it, and the attempt is recorded in the access log.",
  'pathway.notfound': 'No such pathway (404).',

  'worklist.title': 'Worklist',
  'worklist.for': 'Worklist of {name}',
  'worklist.choose': 'Organisation',
  'worklist.operator': 'The operator has no worklist of its own. Choose an organisation.',
  'worklist.show': 'Show',
  'worklist.offers': 'Offers waiting for an answer',
  'worklist.offers.caption': 'Offers to {name}, earliest deadline first',
  'worklist.gaps': 'Gaps you can close',
  'worklist.gaps.caption': 'Open gaps {name} can close, critical first',
  'worklist.overdue': 'overdue',
  'worklist.paused': 'paused (patient on leave)',
  'worklist.ontime': 'on time',
  'worklist.nooffers': 'No offers are waiting.',
  'worklist.nogaps': 'No open gaps.',

  'figures.title': 'Figures',
  'figures.scope': 'Cluster (for bed days and day by day)',
  'figures.show': 'Show',
  'figures.o2a': 'Time from offer to acceptance',
  'figures.o2a.intro': 'Median and 90th percentile per cluster for accepted offers. Medians are upper bounds within 25 %.',
  'figures.o2a.caption': 'Time from offer to acceptance per cluster',
  'figures.count': 'Accepted',
  'figures.median': 'Median',
  'figures.p90': '90th percentile',
  'figures.ready': '"Færdigbehandlet" bed days per municipality per week',
  'figures.ready.intro': 'Days on which patients were ready for discharge ("færdigbehandlet") but still in hospital, over the last 30 days, summed per week (Monday–Sunday).',
  'figures.ready.caption': 'Færdigbehandlet bed days in the municipalities of cluster {name}',
  'figures.week': 'Week {n}',
  'figures.readynow': 'Ready now',
  'figures.readytotal': 'Bed days in all',
  'figures.daily': 'Show day by day in cluster {name}',
  'figures.dailytitle': 'Day by day',
  'figures.day': 'Day',
  'figures.admissions': 'Admissions',
  'figures.discharges': 'Discharges',
  'figures.gapsopened': 'Gaps opened',
  'figures.gapsclosed': 'Gaps closed',
  'figures.readydays': 'Færdigbehandlet bed days',
  'figures.nodata': 'No data yet.',

  'what.hospital-stay': 'hospital stay',
  'what.home-care': 'home care',
  'what.home-nursing': 'home nursing',
  'what.rehabilitation': 'rehabilitation',
  'what.gp-follow-up': 'GP follow-up',
  'what.nursing-home': 'nursing home',
  'what.municipal-bed': 'municipal bed',
  'what.discharge-planning': 'discharge planning',
  'offerstatus.pending': 'pending',
  'offerstatus.accepted': 'accepted',
  'offerstatus.rejected': 'rejected',
  'offerstatus.withdrawn': 'withdrawn',
  'offerstatus.expired': 'expired',

  'dur.min': '{n} min',
  'dur.h': '{n} h',
  'dur.d': '{n} d',
  'dur.s': '{n} s',
};

const dictionaries = { da, en };
const locales = { da: 'da-DK', en: 'en-GB' };
const zone = 'Europe/Copenhagen';

let current = 'da';
try {
  const saved = localStorage.getItem('stafet.lang');
  if (saved in dictionaries) current = saved;
} catch { /* storage may be off; Danish it is */ }

export function lang() { return current; }

export function setLang(l) {
  if (!(l in dictionaries)) return;
  current = l;
  try { localStorage.setItem('stafet.lang', l); } catch { /* not kept */ }
}

// t returns the label for key in the current language, with {name}
// placeholders filled from vars. An unknown key is shown as itself.
export function t(key, vars) {
  let s = dictionaries[current][key] ?? dictionaries.da[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// has says whether key has a label.
export function has(key) { return key in dictionaries[current]; }

// dateTime formats an RFC 3339 time in Copenhagen time.
export function dateTime(iso) {
  if (!iso) return t('dash');
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString(locales[current], { timeZone: zone, dateStyle: 'short', timeStyle: 'medium' });
}

export function time(d) {
  return d.toLocaleTimeString(locales[current], { timeZone: zone });
}

export function shortDateTime(d) {
  return d.toLocaleString(locales[current], { timeZone: zone, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function day(d) {
  return d.toLocaleDateString(locales[current], { timeZone: zone, month: 'short', day: 'numeric' });
}

// duration formats milliseconds as the two largest units ("2 d 4 t").
export function duration(ms) {
  ms = Math.max(0, ms);
  const s = Math.round(ms / 1000);
  if (s < 60) return t('dur.s', { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('dur.min', { n: m });
  const h = Math.floor(m / 60);
  if (h < 24) {
    const rm = m % 60;
    return rm ? `${t('dur.h', { n: h })} ${t('dur.min', { n: rm })}` : t('dur.h', { n: h });
  }
  const d = Math.floor(h / 24);
  const rh = h % 24;
  return rh ? `${t('dur.d', { n: d })} ${t('dur.h', { n: rh })}` : t('dur.d', { n: d });
}

// decimal formats a derived (not counted) number with one decimal.
export function decimal(x) {
  return x.toLocaleString(locales[current], { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

// applyStatic relabels the page's fixed elements marked data-i18n.
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
}
