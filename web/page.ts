// The status page: pool occupancy per provider and label, and the images per provider, in one plain HTML page
// rendered on the server (no script), for an operator's browser.
import type { Config } from '../config/index.ts';
import { NODE_STATES } from '../metrics/status.ts';
import type { CatalogView } from '../workflows/image-catalog.ts';
import type { PoolView } from '../workflows/pool-api.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

const COLORS: Record<string, string> = {
  building: '#f0ad4e',
  ready: '#5cb85c',
  'in-use': '#337ab7',
  used: '#9a9a9a',
  hold: '#8e44ad',
  deleting: '#d9534f',
  failed: '#7f1d1d',
};

export interface PageInput {
  config: Config;
  pools: PoolView[];
  catalogs: CatalogView[];
  errors: string[];
  now: number;
  /** Seconds between reloads; 0: none. */
  refresh: number;
}

function hours(ms: number): string {
  return (Math.max(0, ms) / 3_600_000).toFixed(2);
}

function bar(states: Record<string, number>, max: number): string {
  const total = Math.max(
    max,
    NODE_STATES.reduce((n, s) => n + (states[s] ?? 0), 0),
    1,
  );
  const segments = NODE_STATES.filter((s) => (states[s] ?? 0) > 0).map(
    (s) =>
      `<span class="seg" title="${esc(s)}: ${states[s]}" style="width:${((100 * (states[s] ?? 0)) / total).toFixed(2)}%;background:${COLORS[s]}"></span>`,
  );
  return `<div class="bar">${segments.join('')}</div>`;
}

function poolSection(config: Config, v: PoolView): string {
  const provider = config.providers.find((p) => p.name === v.provider);
  const rows = v.occupancy.map((o) => {
    const max = provider?.pools.find((p) => p.name === o.pool)?.maxServers ?? 0;
    const total = NODE_STATES.reduce((n, s) => n + (o.states[s] ?? 0), 0);
    return `<tr data-provider="${esc(v.provider)}" data-pool="${esc(o.pool)}" data-label="${esc(o.label)}">
<td>${esc(o.pool)}</td><td>${esc(o.label)}</td>${NODE_STATES.map((s) => `<td class="n" data-state="${esc(s)}">${o.states[s] ?? 0}</td>`).join('')}
<td class="n">${total} / ${max}</td><td class="barcell">${bar(o.states, max)}</td></tr>`;
  });
  const q = v.quota;
  const quota = [
    ['instances', q.instances],
    ['cores', q.cores],
    ['RAM MB', q.ramMB],
  ]
    .map(([k, n]) => `${esc(k)} ${n === null ? 'unlimited' : esc(n)}`)
    .join(', ');
  const waits = v.minReadyWaits.map((w) => `<li>${esc(w.label)}: ${esc(w.reason)}</li>`).join('');
  return `<section class="pool" id="pool-${esc(v.provider)}">
<h3>${esc(v.provider)}</h3>
<table><thead><tr><th>Pool</th><th>Label</th>${NODE_STATES.map((s) => `<th>${esc(s)}</th>`).join('')}<th>Nodes / max-servers</th><th></th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
<p class="note">${esc(v.summary)}</p>
<p class="note">Quota available: ${quota}. Requests: ${v.requests.filter((r) => r.state === 'pending').length} pending.</p>
${waits ? `<ul class="note">${waits}</ul>` : ''}
</section>`;
}

function imageSection(c: CatalogView, now: number): string {
  const images = [...new Set(c.uploads.map((u) => u.image))].sort();
  const rows = images.map((image) => {
    const uploads = c.uploads.filter((u) => u.image === image && u.state !== 'deleted');
    const current = uploads.find((u) => u.id === c.current[image]);
    const counts = new Map<string, number>();
    for (const u of uploads) counts.set(u.state, (counts.get(u.state) ?? 0) + 1);
    const states = [...counts].map(([s, n]) => `${esc(s)} ${n}`).join(', ');
    return `<tr data-provider="${esc(c.provider)}" data-image="${esc(image)}">
<td>${esc(image)}</td><td class="n" data-field="current">${current ? esc(current.id) : '—'}</td>
<td class="n">${current ? esc(current.version) : '—'}</td><td>${current?.externalId ? esc(current.externalId) : '—'}</td>
<td class="n">${current ? hours(now - current.stateSince) : '—'}</td><td>${states || 'none'}</td></tr>`;
  });
  return `<section class="images" id="images-${esc(c.provider)}">
<h3>${esc(c.provider)}</h3>
${
  rows.length === 0
    ? '<p class="note">No uploads yet.</p>'
    : `<table><thead><tr><th>Image</th><th>Current upload</th><th>Version</th><th>Image ID</th><th>Age (hours)</th><th>Uploads</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`
}
</section>`;
}

export function renderStatusPage(p: PageInput): string {
  const pools = [...p.pools].sort((a, b) => a.provider.localeCompare(b.provider));
  const catalogs = [...p.catalogs].sort((a, b) => a.provider.localeCompare(b.provider));
  const legend = NODE_STATES.map((s) => `<span class="key" style="background:${COLORS[s]}"></span>${esc(s)}`).join(' ');
  const links = ['image-list', 'dib-image-list', 'node-list', 'label-list', 'request-list', 'metrics']
    .map((l) => `<a href="${l}">/${l}</a>`)
    .join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nodepool status</title>
${p.refresh > 0 ? `<meta http-equiv="refresh" content="${p.refresh}">` : ''}
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em;margin:0 0 .2em}h2{margin-top:1.5em;border-bottom:1px solid #ddd}h3{margin:.8em 0 .3em}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:flex;width:16em;height:.9em;background:#eee;border-radius:2px;overflow:hidden}.seg{display:block;height:100%}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .8em;border-radius:2px}
.note{color:#555;margin:.2em 0}.errors{color:#a00}nav{color:#555}
</style></head>
<body>
<h1>nodepool status</h1>
<nav>${new Date(p.now).toISOString()} · ${links}</nav>
${p.errors.length > 0 ? `<ul class="errors">${p.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>` : ''}
<h2>Pools</h2>
<p class="note">${legend}</p>
${pools.length === 0 ? '<p class="note">No pool is running.</p>' : pools.map((v) => poolSection(p.config, v)).join('\n')}
<h2>Images</h2>
${catalogs.length === 0 ? '<p class="note">No provider is configured.</p>' : catalogs.map((c) => imageSection(c, p.now)).join('\n')}
</body></html>
`;
}
