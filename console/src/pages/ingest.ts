// Ingest: live charts of the last 15 minutes from `GET /metrics`, sampled once a second
// for as long as the console is open (also while another page is shown).

import { call } from '../api';
import { lineChart, LineChart } from '../chart';
import { h, replace } from '../dom';
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
}

interface Snapshot {
  t: number;
  samples: Sample[];
}

const points: Point[] = [];
let previous: Snapshot | null = null;
let timer: number | undefined;
let lastError = '';
const listeners = new Set<() => void>();

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
}

const CHARTS: ChartSpec[] = [
  {
    title: 'Lines accepted and rejected',
    labels: ['accepted', 'rejected'],
    format: (v) => fmt.rate(v, 'lines/s'),
    values: (p) => [p.linesAccepted, p.linesRejected],
  },
  {
    title: 'Write bytes received (on the wire)',
    labels: ['received'],
    format: (v) => `${fmt.bytes(v)}/s`,
    values: (p) => [p.bytesReceived],
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

export const ingestPage: Page = {
  path: '/ingest',
  title: 'Ingest',
  mount(root) {
    startSampling();
    const summary = h('dl', { class: 'summary', 'aria-live': 'off' });
    const note = h('p', { class: 'status', role: 'status' });
    const charts: LineChart[] = CHARTS.map((c) => lineChart(c.title, c.labels, c.format));
    root.append(
      h('h1', {}, 'Ingest'),
      h(
        'p',
        { class: 'note' },
        'The whole server, sampled from /metrics once a second; the last 15 minutes while this tab is open. ',
        'sluice keeps these counters for the server as a whole, not per database.',
      ),
      summary,
      note,
      h('div', { class: 'charts' }, charts.map((c) => c.element)),
    );
    const draw = () => {
      note.textContent = lastError ? `Cannot read /metrics: ${lastError}` : points.length ? '' : 'Collecting the first samples…';
      note.className = lastError ? 'status error' : 'status';
      const x = points.map((p) => p.t);
      CHARTS.forEach((spec, i) => {
        const columns = spec.labels.map((_, j) => points.map((p) => {
          const v = spec.values(p)[j];
          return Number.isFinite(v) ? v : null;
        }));
        charts[i].set(x, columns);
      });
      const last = points[points.length - 1];
      if (last) {
        const item = (label: string, value: string) => [h('dt', {}, label), h('dd', { 'data-metric': label }, value)];
        replace(
          summary,
          item('Accepted', fmt.rate(last.linesAccepted, 'lines/s')),
          item('Rejected', fmt.rate(last.linesRejected, 'lines/s')),
          item('Received', `${fmt.bytes(last.bytesReceived)}/s`),
          item('Write p99', fmt.seconds(last.p99)),
          item('Buffer', `${fmt.bytes(last.bufferBytes)} of ${fmt.bytes(last.bufferLimit)}`),
          item('WAL syncs', fmt.rate(last.walSyncs, '/s')),
        );
      }
    };
    listeners.add(draw);
    draw();
    return () => {
      listeners.delete(draw);
      charts.forEach((c) => c.destroy());
    };
  },
};
