// Who is signed in, and the directory of organisations and clusters the
// views name things by.

import { get, all, APIError } from './api.js';

export const KINDS = ['no-owner', 'offer-overdue', 'offer-rejected', 'discharged-before-accept', 'document-overdue', 'ready-but-waiting'];

// AGES are the API's age buckets (figures' by_age), in hours.
export const AGES = [[0, 4], [4, 24], [24, 72], [72, 168], [168, Infinity]];

export function ageBucket(openedAt, now) {
  const hours = (now - new Date(openedAt)) / 3600e3;
  return AGES.findIndex(([lo, hi]) => hours >= lo && hours < hi);
}

const orgKinds = { sor: 'hospital', kommune: 'municipality', yder: 'gp', region: 'region' };

export class Directory {
  constructor() {
    this.orgs = new Map();       // id → organisation
    this.municipalities = [];    // sorted by name
    this.clusters = [];          // the clusters the caller may see (GET /v1/clusters)
    this.loaded = new Set();     // kinds fully loaded
    this.loading = new Map();    // kind → its load under way
  }

  // load reads the municipalities, the hospitals and the visible clusters.
  async load(signal) {
    const [munis, hospitals, clusters] = await Promise.all([
      all('/v1/organisations?kind=municipality&limit=500', { signal }),
      all('/v1/organisations?kind=hospital&limit=500', { signal }),
      get('/v1/clusters', { signal }),
    ]);
    for (const o of [...munis, ...hospitals]) this.orgs.set(o.id, o);
    this.loaded.add('municipality').add('hospital');
    this.municipalities = munis.slice().sort((a, b) => a.name.localeCompare(b.name, 'da'));
    this.setClusters(clusters.items || []);
  }

  setClusters(items) {
    this.clusters = items;
    this.clusterByID = new Map(items.map(c => [c.id, c]));
  }

  // ensure loads the directory entries of one kind of organisation, for
  // their names (general practices are many, so only when needed).
  async ensure(id, signal) {
    if (this.orgs.has(id)) return;
    await this.ensureKind(orgKinds[String(id).split(':')[0]], signal);
  }

  // ensureKind loads every organisation of a kind, once; callers that
  // ask meanwhile wait for the same load.
  async ensureKind(kind, signal) {
    if (!kind || this.loaded.has(kind)) return;
    if (!this.loading.has(kind)) {
      this.loading.set(kind, (async () => {
        try {
          for (const o of await all(`/v1/organisations?kind=${kind}&limit=500`, { signal, max: 10000 })) this.orgs.set(o.id, o);
          this.loaded.add(kind);
        } catch (e) {
          if (!(e instanceof APIError)) throw e;
        } finally {
          this.loading.delete(kind);
        }
      })());
    }
    await this.loading.get(kind);
  }

  name(id) {
    const o = this.orgs.get(id);
    return o ? o.name : id;
  }

  // label is "Name (id)" where the name is known.
  label(id) {
    const o = this.orgs.get(id);
    return o && o.name !== id ? `${o.name} (${id})` : id;
  }

  clusterName(id) {
    return this.clusterByID?.get(id)?.name || id;
  }
}

// lane says which swimlane an organisation's events go in.
export function lane(dir, id) {
  if (!id) return 'stafet';
  const o = dir.orgs.get(id);
  if (o?.kind === 'gp' || id.startsWith('yder:')) return 'gp';
  if (o?.kind === 'municipality' || id.startsWith('kommune:')) return 'municipality';
  return 'hospital';
}

// whoami asks the API who the token belongs to: an organisation has a
// worklist of its own; the operator is told it has none.
export async function whoami(signal) {
  try {
    const wl = await get('/v1/worklist', { signal, quiet401: true });
    return { operator: false, org: wl.org };
  } catch (e) {
    if (e instanceof APIError && e.status === 400 && e.problem.field === 'org') return { operator: true, org: '' };
    throw e;
  }
}
