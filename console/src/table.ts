// Query results as a table and, when they have a time column, as line charts.

import { lineChart, LineChart } from './chart';
import { h } from './dom';
import * as fmt from './format';

export interface ResultTable {
  columns: string[];
  rows: unknown[][];
}

const MAX_ROWS_SHOWN = 1000;
const MAX_SERIES = 24;

export function renderTable(table: ResultTable, caption: string): HTMLElement {
  const timeIndex = table.columns.indexOf('time');
  const shown = table.rows.slice(0, MAX_ROWS_SHOWN);
  return h(
    'div',
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, table.columns.map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        shown.map((row) =>
          h(
            'tr',
            {},
            row.map((v, i) => {
              if (i === timeIndex) {
                const d = fmt.parseTime(v);
                return h('td', {}, d ? fmt.time(d) : String(v ?? ''));
              }
              return h('td', { class: typeof v === 'number' ? 'num' : '' }, v === null || v === undefined ? '' : String(v));
            }),
          ),
        ),
      ),
    ),
    table.rows.length > MAX_ROWS_SHOWN
      ? h('p', { class: 'note' }, `Showing the first ${MAX_ROWS_SHOWN} of ${fmt.count(table.rows.length)} rows; download the CSV for all.`)
      : null,
  );
}

/// A line chart of every numeric column over `time`, one line per combination of the
/// string columns (tags); null when there is no time column or nothing numeric.
export function renderChart(table: ResultTable, title: string): LineChart | null {
  const t = table.columns.indexOf('time');
  if (t < 0 || table.rows.length === 0) return null;
  const numeric = table.columns
    .map((_, i) => i)
    .filter((i) => i !== t && table.rows.some((r) => typeof r[i] === 'number'));
  const keys = table.columns
    .map((_, i) => i)
    .filter((i) => i !== t && !numeric.includes(i) && table.rows.some((r) => typeof r[i] === 'string'));
  if (numeric.length === 0) return null;
  const lines = new Map<string, Map<number, number>>();
  const xs = new Set<number>();
  for (const row of table.rows) {
    const d = fmt.parseTime(row[t]);
    if (!d) continue;
    const x = d.getTime() / 1000;
    xs.add(x);
    const group = keys.map((k) => `${table.columns[k]}=${row[k] ?? ''}`).join(',');
    for (const n of numeric) {
      const v = row[n];
      if (typeof v !== 'number') continue;
      const label = group ? `${table.columns[n]} {${group}}` : table.columns[n];
      let line = lines.get(label);
      if (!line) {
        if (lines.size >= MAX_SERIES) continue;
        line = new Map();
        lines.set(label, line);
      }
      line.set(x, v);
    }
  }
  if (lines.size === 0) return null;
  const x = [...xs].sort((a, b) => a - b);
  const labels = [...lines.keys()];
  const chart = lineChart(title, labels, (v) => fmt.count(v), 260);
  chart.set(
    x,
    labels.map((l) => x.map((xv) => lines.get(l)!.get(xv) ?? null)),
  );
  return chart;
}

/// Columns in order of first appearance over JSON row objects (null values are left out).
export function fromObjects(rows: Record<string, unknown>[]): ResultTable {
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const row of rows)
    for (const key of Object.keys(row))
      if (!seen.has(key)) {
        seen.add(key);
        columns.push(key);
      }
  return { columns, rows: rows.map((r) => columns.map((c) => r[c] ?? null)) };
}
