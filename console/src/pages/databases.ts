// Databases and tables: retention, each table's schema (tags, fields and types), series,
// rows, oldest and newest time; and a cardinality view ranking tag keys and values by the
// series they make. Everything comes from InfluxQL `SHOW …` (/query), SQL
// (/api/v3/query_sql) and `GET /api/v2/buckets`.

import { influxql, json, sql } from '../api';
import { field, h, replace, showError, showInfo, status } from '../dom';
import * as fmt from '../format';
import type { Page } from '../page';

/// SQL identifier.
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

interface Bucket {
  name: string;
  retentionRules: { everySeconds: number }[];
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

/// The table's series: its distinct tag value sets (a table without tags has one).
async function seriesCount(db: string, t: TableSchema, rows: number): Promise<number> {
  if (!t.tags.length) return rows > 0 ? 1 : 0;
  const answer = await sql(db, `SELECT count(*) AS series FROM (SELECT DISTINCT ${t.tags.map(q).join(', ')} FROM ${q(t.name)})`);
  return Number(answer[0]?.series ?? 0);
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
    const cardinality = h('div', { id: 'cardinality' });
    const cardState = status();
    const computeButton = h('button', { type: 'button', id: 'cardinality-run' }, 'Rank tag keys and values by series');

    let generation = 0;
    const load = async () => {
      // A newer load (another database chosen meanwhile) wins; this one stops adding.
      const mine = ++generation;
      const db = database.value;
      replace(tables);
      replace(cardinality);
      if (!db) return showInfo(state, 'This token may read no database.');
      showInfo(state, 'Loading…');
      try {
        const [{ buckets }, list] = await Promise.all([
          json<{ buckets: Bucket[] }>(`/api/v2/buckets?name=${encodeURIComponent(db)}`),
          schema(db),
        ]);
        if (mine !== generation) return;
        const every = buckets[0]?.retentionRules[0]?.everySeconds ?? 0;
        retention.textContent = `Retention: ${fmt.duration(every)}${every ? ' (older data is dropped by whole UTC days)' : ''}. ${list.length} ${list.length === 1 ? 'table' : 'tables'}.`;
        showInfo(state, '');
        for (const t of list) {
          const card = await tableCard(db, t);
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
      showInfo(cardState, 'Counting (this reads every table)…');
      try {
        replace(cardinality, await cardinalityView(db, await schema(db)));
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
      h('p', { class: 'note' }, 'Which tag keys and values make the most series (each distinct set of tag values of a table is one series).'),
      computeButton,
      cardState,
      cardinality,
    );
    void load();
  },
};

async function tableCard(db: string, t: TableSchema): Promise<HTMLElement> {
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
  try {
    const counts = await sql(db, `SELECT count(*) AS "rows", min(time) AS oldest, max(time) AS newest FROM ${q(t.name)}`);
    const row = counts[0] ?? {};
    const series = await seriesCount(db, t, Number(row.rows ?? 0));
    const item = (label: string, value: Node | string) => [h('dt', {}, label), h('dd', {}, value)];
    const oldest = fmt.parseTime(row.oldest);
    const newest = fmt.parseTime(row.newest);
    replace(
      stats,
      item('Rows', fmt.count(Number(row.rows ?? 0))),
      item('Series', fmt.count(series)),
      item('Oldest', oldest ? fmt.time(oldest) : '–'),
      item('Newest', newest ? fmt.time(newest) : '–'),
    );
  } catch (err) {
    stats.replaceChildren(h('p', { class: 'status error' }, String(err instanceof Error ? err.message : err)));
  }
  return card;
}

async function cardinalityView(db: string, list: TableSchema[]): Promise<HTMLElement> {
  const keys: { table: string; key: string; values: number; series: number }[] = [];
  const values: { table: string; key: string; value: string; series: number }[] = [];
  for (const t of list) {
    if (!t.tags.length) continue;
    const distinct = `(SELECT DISTINCT ${t.tags.map(q).join(', ')} FROM ${q(t.name)})`;
    const total = Number((await sql(db, `SELECT count(*) AS n FROM ${distinct}`))[0]?.n ?? 0);
    for (const key of t.tags) {
      const rows = await sql(db, `SELECT ${q(key)} AS v, count(*) AS n FROM ${distinct} GROUP BY ${q(key)} ORDER BY n DESC LIMIT 10`);
      const count = Number((await sql(db, `SELECT count(DISTINCT ${q(key)}) AS n FROM ${q(t.name)}`))[0]?.n ?? 0);
      keys.push({ table: t.name, key, values: count, series: total });
      for (const r of rows) values.push({ table: t.name, key, value: r.v === undefined ? '(none)' : String(r.v), series: Number(r.n) });
    }
  }
  keys.sort((a, b) => b.values - a.values);
  values.sort((a, b) => b.series - a.series);
  const bar = (n: number, max: number) => h('meter', { min: 0, max: Math.max(max, 1), value: n, 'aria-hidden': 'true' });
  const maxValues = keys[0]?.values ?? 1;
  const maxSeries = values[0]?.series ?? 1;
  return h(
    'div',
    { class: 'cardinality' },
    h(
      'table',
      { id: 'cardinality-keys' },
      h('caption', {}, 'Tag keys by number of values'),
      h('thead', {}, h('tr', {}, ['Table', 'Tag key', 'Values', '', 'Series of the table'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, keys.map((k) => h('tr', {}, h('td', {}, k.table), h('td', {}, k.key), h('td', { class: 'num' }, fmt.count(k.values)), h('td', {}, bar(k.values, maxValues)), h('td', { class: 'num' }, fmt.count(k.series))))),
    ),
    h(
      'table',
      { id: 'cardinality-values' },
      h('caption', {}, 'Tag values by number of series (top 10 per key)'),
      h('thead', {}, h('tr', {}, ['Table', 'Tag', 'Series', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, values.slice(0, 50).map((v) => h('tr', {}, h('td', {}, v.table), h('td', {}, `${v.key}=${v.value}`), h('td', { class: 'num' }, fmt.count(v.series)), h('td', {}, bar(v.series, maxSeries))))),
    ),
  );
}
