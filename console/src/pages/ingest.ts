// Ingest: live charts of the last 15 minutes from `GET /metrics`, sampled once a second
// for as long as the console is open (also while another page is shown), for the whole
// server or one database (its `sluice_database_*{db}` counters).

import { call } from '../api';
import { lineChart, LineChart } from '../chart';
import { field, h, replace } from '../dom';
import * as fmt from '../format';
import type { Page } from '../page';
import { buckets, parse, quantile, Sample, sum } from '../prometheus';

const WINDOW_SECONDS = 15 * 60;
const INTERVAL_MS = 1000;

/// One point of every chart.
interface Point {
  t: number;
  linesAccepted: number;
  bytesReceived: number;
  linesRejected: number;
  p50: number;
  p99: number;
  answered503: number;
  answered429: number;
  bufferBytes: number;
  bufferLimit: number;
  walSyncs: number;
  persistedFiles: number;
  persistedBytes: number;
  parquetFiles: number;
  /// Rates of each database's write counters.
  databases: Map<string, DatabaseRates>;
}

interface DatabaseRates {
  linesAccepted: number;
  linesRejected: number;
  bytesReceived: number;
  refused503: number;
  refused507: number;
}

/// The database the charts show; '' for the whole server. Kept while the tab is open.
let chosen = '';
/// Every database seen in `/metrics` (only those the token may read are there).
const seen = new Set<string>();

interface Snapshot {
  t: number;
  samples: Sample[];
}

const points: Point[] = [];
let previous: Snapshot | null = null;
let timer: number | undefined;
let lastError = '';
const listeners = new Set<() => void>();

/// Per database: the rates of its counters between two snapshots (a database new since
/// `before` counted from zero, as its counters started with its first write).
function databaseRates(before: Sample[], now: Sample[], dt: number): Map<string, DatabaseRates> {
  const values = (samples: Sample[]) => {
    const out = new Map<string, Map<string, number>>();
    for (const s of samples) {
      const db = s.labels.db;
      if (db === undefined || !s.name.startsWith('sluice_database_')) continue;
      const key = s.labels.status ? `${s.name}:${s.labels.status}` : s.name;
      if (!out.has(db)) out.set(db, new Map());
      out.get(db)!.set(key, s.value);
    }
    return out;
  };
  const then = values(before);
  const out = new Map<string, DatabaseRates>();
  for (const [db, counters] of values(now)) {
    seen.add(db);
    const rate = (key: string) => Math.max(0, ((counters.get(key) ?? 0) - (then.get(db)?.get(key) ?? 0)) / dt);
    out.set(db, {
      linesAccepted: rate('sluice_database_lines_accepted_total'),
      linesRejected: rate('sluice_database_lines_rejected_total'),
      bytesReceived: rate('sluice_database_write_bytes_received_total'),
      refused503: rate('sluice_database_write_refused_total:503'),
      refused507: rate('sluice_database_write_refused_total:507'),
    });
  }
  return out;
}

function statusCount(samples: Sample[], status: string): number {
  const v = sum(samples, 'sluice_http_requests_total', (l) => l.status === status);
  return Number.isNaN(v) ? 0 : v;
}

async function sample(): Promise<void> {
  try {
    const text = await (await call('/metrics')).text();
    const now: Snapshot = { t: Date.now() / 1000, samples: parse(text) };
    const before = previous;
    previous = now;
    lastError = '';
    if (before) {
      const dt = Math.max(now.t - before.t, 0.001);
      const rate = (name: string) => Math.max(0, (sum(now.samples, name) - sum(before.samples, name)) / dt);
      const latencyBefore = buckets(before.samples, 'sluice_http_write_duration_seconds');
      const latencyNow = buckets(now.samples, 'sluice_http_write_duration_seconds');
      points.push({
        t: now.t,
        linesAccepted: rate('sluice_lines_accepted_total'),
        bytesReceived: rate('sluice_http_write_bytes_received_total'),
        linesRejected: rate('sluice_lines_rejected_total'),
        p50: quantile(0.5, latencyBefore, latencyNow),
        p99: quantile(0.99, latencyBefore, latencyNow),
        answered503: Math.max(0, (statusCount(now.samples, '503') - statusCount(before.samples, '503')) / dt),
        answered429: Math.max(0, (statusCount(now.samples, '429') - statusCount(before.samples, '429')) / dt),
        bufferBytes: sum(now.samples, 'sluice_buffer_bytes'),
        bufferLimit: sum(now.samples, 'sluice_buffer_limit_bytes'),
        walSyncs: rate('sluice_wal_syncs_total'),
        persistedFiles: rate('sluice_persisted_files_total') * 60,
        persistedBytes: rate('sluice_persisted_bytes_total'),
        parquetFiles: sum(now.samples, 'sluice_parquet_files'),
        databases: databaseRates(before.samples, now.samples, dt),
      });
      while (points.length && points[0].t < now.t - WINDOW_SECONDS) points.shift();
    }
  } catch (err) {
    lastError = err instanceof Error ? err.message : String(err);
  }
  for (const l of listeners) l();
}

/// Starts sampling (once); it runs until the tab is closed.
export function startSampling(): void {
  if (timer !== undefined) return;
  void sample();
  timer = window.setInterval(() => void sample(), INTERVAL_MS);
}

interface ChartSpec {
  title: string;
  labels: string[];
  format: (v: number) => string;
  values: (p: Point) => number[];
  /// The chart for one database, when its counters exist per database.
  database?: { labels: string[]; values: (r: DatabaseRates) => number[] };
}

const CHARTS: ChartSpec[] = [
  {
    title: 'Lines accepted and rejected',
    labels: ['accepted', 'rejected'],
    format: (v) => fmt.rate(v, 'lines/s'),
    values: (p) => [p.linesAccepted, p.linesRejected],
    database: { labels: ['accepted', 'rejected'], values: (r) => [r.linesAccepted, r.linesRejected] },
  },
  {
    title: 'Write bytes received (on the wire)',
    labels: ['received'],
    format: (v) => `${fmt.bytes(v)}/s`,
    values: (p) => [p.bytesReceived],
    database: { labels: ['received'], values: (r) => [r.bytesReceived] },
  },
  {
    title: 'Write latency',
    labels: ['p50', 'p99'],
    format: (v) => fmt.seconds(v),
    values: (p) => [p.p50, p.p99],
  },
  {
    title: 'Refused requests (overload)',
    labels: ['503 answers', '429 answers'],
    format: (v) => fmt.rate(v, 'req/s'),
    values: (p) => [p.answered503, p.answered429],
    database: { labels: ['503 answers', '507 answers (disk full)'], values: (r) => [r.refused503, r.refused507] },
  },
  {
    title: 'Write buffer',
    labels: ['buffered', 'ceiling'],
    format: (v) => fmt.bytes(v),
    values: (p) => [p.bufferBytes, p.bufferLimit],
  },
  {
    title: 'WAL syncs',
    labels: ['fdatasync'],
    format: (v) => fmt.rate(v, 'syncs/s'),
    values: (p) => [p.walSyncs],
  },
  {
    title: 'Persistence and compaction (Parquet written)',
    labels: ['bytes written'],
    format: (v) => `${fmt.bytes(v)}/s`,
    values: (p) => [p.persistedBytes],
  },
  {
    title: 'Parquet files',
    labels: ['live files', 'files written per minute'],
    format: (v) => fmt.count(v),
    values: (p) => [p.parquetFiles, p.persistedFiles],
  },
];

/// What chart `spec` shows for database `db` ('' for the whole server): its title,
/// series labels and values per point.
function view(spec: ChartSpec, db: string): { title: string; labels: string[]; values: (p: Point) => number[] } {
  if (!db) return spec;
  const per = spec.database;
  if (!per) return { ...spec, title: `${spec.title} — whole server` };
  const zero = per.labels.map(() => 0);
  return {
    title: `${spec.title} — ${db}`,
    labels: per.labels,
    // Before the database's first write it has no counters: nothing arrived.
    values: (p) => {
      const r = p.databases.get(db);
      return r ? per.values(r) : zero;
    },
  };
}

export const ingestPage: Page = {
  path: '/ingest',
  title: 'Ingest',
  mount(root, who) {
    startSampling();
    const picker = h('select', { id: 'ingest-db' });
    const summary = h('dl', { class: 'summary', 'aria-live': 'off' });
    const note = h('p', { class: 'status', role: 'status' });
    const scope = h('p', { class: 'note' });
    const grid = h('div', { class: 'charts' });
    let charts: LineChart[] = [];
    let views = CHARTS.map((c) => view(c, chosen));
    const build = () => {
      charts.forEach((c) => c.destroy());
      views = CHARTS.map((c) => view(c, chosen));
      charts = CHARTS.map((c, i) => lineChart(views[i].title, views[i].labels, c.format));
      replace(grid, charts.map((c) => c.element));
      scope.textContent = chosen
        ? `Writes to ${chosen} (lines, bytes, refusals: counted per database by the server); latency, buffer, WAL and Parquet are the whole server's. `
        : 'The whole server. ';
      scope.append('Sampled from /metrics once a second; the last 15 minutes while this tab is open.');
    };
    const fillPicker = () => {
      const names = [...new Set([...who.read, ...seen])].sort();
      const have = [...picker.options].map((o) => o.value);
      const want = ['', ...names];
      if (have.length === want.length && have.every((v, i) => v === want[i])) return;
      replace(
        picker,
        h('option', { value: '' }, 'All databases (whole server)'),
        names.map((d) => h('option', { value: d }, d)),
      );
      picker.value = chosen;
    };
    picker.addEventListener('change', () => {
      chosen = picker.value;
      build();
      draw();
    });
    root.append(
      h('h1', {}, 'Ingest'),
      h('div', { class: 'row' }, field('Database', picker)),
      scope,
      summary,
      note,
      grid,
    );
    const draw = () => {
      fillPicker();
      note.textContent = lastError ? `Cannot read /metrics: ${lastError}` : points.length ? '' : 'Collecting the first samples…';
      note.className = lastError ? 'status error' : 'status';
      const x = points.map((p) => p.t);
      views.forEach((v, i) => {
        const columns = v.labels.map((_, j) =>
          points.map((p) => {
            const value = v.values(p)[j];
            return Number.isFinite(value) ? value : null;
          }),
        );
        charts[i].set(x, columns);
      });
      const last = points[points.length - 1];
      if (last) {
        const item = (label: string, value: string) => [h('dt', {}, label), h('dd', { 'data-metric': label }, value)];
        const db = chosen ? last.databases.get(chosen) : undefined;
        const accepted = chosen ? (db?.linesAccepted ?? 0) : last.linesAccepted;
        const rejected = chosen ? (db?.linesRejected ?? 0) : last.linesRejected;
        const received = chosen ? (db?.bytesReceived ?? 0) : last.bytesReceived;
        replace(
          summary,
          item('Accepted', fmt.rate(accepted, 'lines/s')),
          item('Rejected', fmt.rate(rejected, 'lines/s')),
          item('Received', `${fmt.bytes(received)}/s`),
          item('Write p99', fmt.seconds(last.p99)),
          item('Buffer', `${fmt.bytes(last.bufferBytes)} of ${fmt.bytes(last.bufferLimit)}`),
          item('WAL syncs', fmt.rate(last.walSyncs, '/s')),
        );
      }
    };
    fillPicker();
    build();
    listeners.add(draw);
    draw();
    return () => {
      listeners.delete(draw);
      charts.forEach((c) => c.destroy());
    };
  },
};
