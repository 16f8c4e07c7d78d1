// Databases and tables: retention, each table's schema (tags, fields and types), bytes on
// disk, series, rows, oldest and newest time; and a cardinality view ranking tag keys and
// values by the series they make. From `GET /api/v3/configure/database?db=` (retention,
// table usage), `GET /api/v3/cardinality` (series), InfluxQL `SHOW …` (/query) and SQL
// (/api/v3/query_sql).

import { influxql, json, sql } from '../api';
import { append, field, h, replace, showError, showInfo, status } from '../dom';
import * as fmt from '../format';
import type { Page } from '../page';

/// SQL identifier.
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/// `GET /api/v3/configure/database?db=`: the database with what each table holds.
interface DatabaseUsage {
  'iox::database': string;
  retention_seconds: number | null;
  tables: TableUsage[];
}

interface TableUsage {
  name: string;
  parquet_files: number;
  parquet_bytes: number;
  parquet_rows: number;
  buffer_bytes: number;
  buffer_rows: number;
}

/// `GET /api/v3/cardinality`.
interface Cardinality {
  series: number;
  truncated: boolean;
  max_series: number;
  tables: { table: string; series: number }[];
  tag_keys: { table: string; key: string; values: number; series: number }[];
  tag_values: { table: string; key: string; value: string; series: number }[];
}

function cardinality(db: string, limit: number, table = ''): Promise<Cardinality> {
  const params = new URLSearchParams({ db, limit: String(limit) });
  if (table) params.set('table', table);
  return json<Cardinality>(`/api/v3/cardinality?${params}`);
}

interface TableSchema {
  name: string;
  tags: string[];
  fields: [string, string][];
}

async function schema(db: string): Promise<TableSchema[]> {
  const [measurements, tagKeys, fieldKeys] = await Promise.all([
    influxql(db, 'SHOW MEASUREMENTS'),
    influxql(db, 'SHOW TAG KEYS'),
    influxql(db, 'SHOW FIELD KEYS'),
  ]);
  const tables = new Map<string, TableSchema>();
  for (const row of measurements[0]?.series?.[0]?.values ?? []) {
    const name = String(row[0]);
    tables.set(name, { name, tags: [], fields: [] });
  }
  for (const s of tagKeys[0]?.series ?? []) tables.get(s.name ?? '')?.tags.push(...s.values.map((v) => String(v[0])));
  for (const s of fieldKeys[0]?.series ?? [])
    tables.get(s.name ?? '')?.fields.push(...s.values.map((v): [string, string] => [String(v[0]), String(v[1])]));
  return [...tables.values()];
}

export const databasesPage: Page = {
  path: '/databases',
  title: 'Databases',
  mount(root, who) {
    const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
    const database = h('select', { id: 'databases-db' }, who.read.map((d) => h('option', { value: d }, d)));
    if (params.get('db')) database.value = params.get('db')!;
    const retention = h('p', { id: 'retention' });
    const state = status();
    const tables = h('div', { id: 'tables' });
    const cardinalityOut = h('div', { id: 'cardinality' });
    const cardState = status();
    const cardTable = h('select', { id: 'cardinality-table' });
    const cardLimit = h('select', { id: 'cardinality-limit' }, [10, 25, 100].map((n) => h('option', { value: String(n) }, String(n))));
    const computeButton = h('button', { type: 'button', id: 'cardinality-run' }, 'Rank tag keys and values by series');

    let generation = 0;
    const load = async () => {
      // A newer load (another database chosen meanwhile) wins; this one stops adding.
      const mine = ++generation;
      const db = database.value;
      replace(tables);
      replace(cardinalityOut);
      replace(cardTable, h('option', { value: '' }, 'All tables'));
      if (!db) return showInfo(state, 'This token may read no database.');
      showInfo(state, 'Loading…');
      try {
        const [[usage], list, counted] = await Promise.all([
          json<DatabaseUsage[]>(`/api/v3/configure/database?db=${encodeURIComponent(db)}`),
          schema(db),
          cardinality(db, 1000),
        ]);
        if (mine !== generation) return;
        const every = usage?.retention_seconds ?? 0;
        const onDisk = (usage?.tables ?? []).reduce((n, t) => n + t.parquet_bytes, 0);
        retention.textContent =
          `Retention: ${fmt.duration(every)}${every ? ' (older data is dropped by whole UTC days)' : ''}. ` +
          `${list.length} ${list.length === 1 ? 'table' : 'tables'}, ${fmt.bytes(onDisk)} of Parquet files on disk ` +
          '(the write-ahead log is shared by all databases and not counted here).';
        append(cardTable, list.map((t) => h('option', { value: t.name }, t.name)));
        showInfo(state, '');
        const series = new Map(counted.tables.map((t) => [t.table, t.series]));
        const usageOf = new Map((usage?.tables ?? []).map((t) => [t.name, t]));
        for (const t of list) {
          const card = await tableCard(db, t, usageOf.get(t.name), series.get(t.name) ?? 0);
          if (mine !== generation) return;
          tables.append(card);
        }
      } catch (err) {
        showError(state, err);
      }
    };

    computeButton.addEventListener('click', async () => {
      const db = database.value;
      if (!db) return;
      computeButton.disabled = true;
      showInfo(cardState, 'Counting…');
      try {
        replace(cardinalityOut, cardinalityView(await cardinality(db, Number(cardLimit.value), cardTable.value)));
        showInfo(cardState, '');
      } catch (err) {
        showError(cardState, err);
      } finally {
        computeButton.disabled = false;
      }
    });
    database.addEventListener('change', () => void load());

    root.append(
      h('h1', {}, 'Databases'),
      h('div', { class: 'row' }, field('Database', database)),
      retention,
      state,
      tables,
      h('h2', {}, 'Cardinality'),
      h(
        'p',
        { class: 'note' },
        'Which tag keys and values make the most series (each distinct set of tag values of a table is one series), counted by the server from the series it keeps.',
      ),
      h('div', { class: 'row' }, field('Table', cardTable), field('Top', cardLimit), computeButton),
      cardState,
      cardinalityOut,
    );
    void load();
  },
};

async function tableCard(db: string, t: TableSchema, usage: TableUsage | undefined, series: number): Promise<HTMLElement> {
  const stats = h('dl', { class: 'summary' });
  const card = h(
    'section',
    { class: 'card table-card', 'aria-label': `Table ${t.name}` },
    h('h2', {}, t.name, ' ', h('a', { href: `#/query?db=${encodeURIComponent(db)}&q=${encodeURIComponent(`SELECT * FROM ${q(t.name)} ORDER BY time DESC LIMIT 100`)}` }, 'query')),
    stats,
    h(
      'table',
      { class: 'schema' },
      h('caption', {}, 'Columns'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Column'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Type'))),
      h(
        'tbody',
        {},
        t.tags.map((tag) => h('tr', {}, h('td', {}, tag), h('td', {}, 'tag'), h('td', {}, 'string'))),
        t.fields.map(([f, type]) => h('tr', {}, h('td', {}, f), h('td', {}, 'field'), h('td', {}, type))),
        h('tr', {}, h('td', {}, 'time'), h('td', {}, 'time'), h('td', {}, 'timestamp (ns)')),
      ),
    ),
  );
  const item = (label: string, value: Node | string, stat: string, title?: string) => [
    h('dt', {}, label),
    h('dd', { 'data-stat': stat, title }, value),
  ];
  const files = usage?.parquet_files ?? 0;
  const storage = [
    item(
      'On disk',
      `${fmt.bytes(usage?.parquet_bytes ?? NaN)} in ${fmt.count(files)} Parquet ${files === 1 ? 'file' : 'files'}`,
      'disk',
      'Live Parquet files of this table, as the manifest records them',
    ),
    item(
      'Not yet persisted',
      `${fmt.bytes(usage?.buffer_bytes ?? NaN)} in memory, ${fmt.count(usage?.buffer_rows ?? NaN)} rows`,
      'buffer',
      'Rows in the write buffer, not yet in a Parquet file',
    ),
  ];
  try {
    const counts = await sql(db, `SELECT count(*) AS "rows", min(time) AS oldest, max(time) AS newest FROM ${q(t.name)}`);
    const row = counts[0] ?? {};
    const oldest = fmt.parseTime(row.oldest);
    const newest = fmt.parseTime(row.newest);
    replace(
      stats,
      item('Rows', fmt.count(Number(row.rows ?? 0)), 'rows'),
      item('Series', fmt.count(series), 'series'),
      storage,
      item('Oldest', oldest ? fmt.time(oldest) : '–', 'oldest'),
      item('Newest', newest ? fmt.time(newest) : '–', 'newest'),
    );
  } catch (err) {
    replace(stats, storage, h('p', { class: 'status error' }, String(err instanceof Error ? err.message : err)));
  }
  return card;
}

function cardinalityView(c: Cardinality): HTMLElement {
  const bar = (n: number, max: number) => h('meter', { min: 0, max: Math.max(max, 1), value: n, 'aria-hidden': 'true' });
  const maxSeries = c.tables[0]?.series ?? 1;
  const maxValues = c.tag_keys[0]?.values ?? 1;
  const maxValueSeries = c.tag_values[0]?.series ?? 1;
  const head = (...names: string[]) => h('thead', {}, h('tr', {}, names.map((n) => h('th', { scope: 'col' }, n))));
  const num = (n: number) => h('td', { class: 'num' }, fmt.count(n));
  const wrap = (table: HTMLElement, label: string) => h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label }, table);
  return h(
    'div',
    {},
    h(
      'p',
      { id: 'cardinality-total' },
      `${fmt.count(c.series)} series`,
      c.truncated ? ` (counting stopped at ${fmt.count(c.max_series)}: the rankings cover the first series found)` : '',
      '.',
    ),
    h(
    'div',
    { class: 'cardinality' },
    wrap(
      h(
        'table',
        { id: 'cardinality-tables' },
        h('caption', {}, 'Tables by series'),
        head('Table', 'Series', ''),
        h('tbody', {}, c.tables.map((t) => h('tr', {}, h('td', {}, t.table), num(t.series), h('td', {}, bar(t.series, maxSeries))))),
      ),
      'Tables by series',
    ),
    wrap(
      h(
        'table',
        { id: 'cardinality-keys' },
        h('caption', {}, 'Tag keys by number of values (and the series carrying the key)'),
        head('Table', 'Tag key', 'Values', '', 'Series'),
        h('tbody', {}, c.tag_keys.map((k) => h('tr', {}, h('td', {}, k.table), h('td', {}, k.key), num(k.values), h('td', {}, bar(k.values, maxValues)), num(k.series)))),
      ),
      'Tag keys by number of values',
    ),
    wrap(
      h(
        'table',
        { id: 'cardinality-values' },
        h('caption', {}, 'Tag values by number of series'),
        head('Table', 'Tag', 'Series', ''),
        h('tbody', {}, c.tag_values.map((v) => h('tr', {}, h('td', {}, v.table), h('td', {}, `${v.key}=${v.value}`), num(v.series), h('td', {}, bar(v.series, maxValueSeries))))),
      ),
      'Tag values by number of series',
    ),
    ),
  );
}
