// Query: SQL (/api/v3/query_sql) or InfluxQL (/query) over one database, as a table and a
// line chart when the result has a time column; CSV straight from the server.

import { influxql, query, sql } from '../api';
import { field, h, replace, showError, showInfo, status } from '../dom';
import * as fmt from '../format';
import type { Page } from '../page';
import type { LineChart } from '../chart';
import { fromObjects, renderChart, renderTable, ResultTable } from '../table';

type Language = 'sql' | 'influxql';

const EXAMPLES: Record<Language, string> = {
  sql: 'SELECT * FROM "cpu" ORDER BY time DESC LIMIT 100',
  influxql: 'SELECT mean(*) FROM "cpu" WHERE time > now() - 1h GROUP BY time(1m)',
};

export const queryPage: Page = {
  path: '/query',
  title: 'Query',
  mount(root, who) {
    const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
    const language = h(
      'select',
      { id: 'query-language' },
      h('option', { value: 'sql' }, 'SQL'),
      h('option', { value: 'influxql' }, 'InfluxQL'),
    );
    const database = h('select', { id: 'query-db' }, who.read.map((d) => h('option', { value: d }, d)));
    if (params.get('db')) database.value = params.get('db')!;
    const editor = h('textarea', {
      id: 'query-text',
      rows: 6,
      spellcheck: 'false',
      'aria-describedby': 'query-help',
    });
    editor.value = params.get('q') ?? EXAMPLES.sql;
    language.addEventListener('change', () => {
      if (Object.values(EXAMPLES).includes(editor.value)) editor.value = EXAMPLES[language.value as Language];
    });
    const run = h('button', { type: 'submit', class: 'primary' }, 'Run');
    const csv = h('button', { type: 'button', disabled: true }, 'Download CSV');
    const state = status();
    const results = h('div', { class: 'results' });
    let chart: LineChart | null = null;

    const execute = async () => {
      const db = database.value;
      const q = editor.value.trim();
      if (!db) return showError(state, 'No database to query: this token may read none.');
      if (!q) return;
      run.disabled = true;
      showInfo(state, 'Running…');
      chart?.destroy();
      chart = null;
      replace(results);
      const started = performance.now();
      try {
        const tables = await runQuery(language.value as Language, db, q);
        const ms = performance.now() - started;
        const shown = tables.filter((t) => !t.chartOnly);
        const rows = shown.reduce((n, t) => n + t.table.rows.length, 0);
        showInfo(state, `${fmt.count(rows)} rows in ${fmt.seconds(ms / 1000)} (measured in the browser, network included)`);
        for (const { table, name } of tables) {
          const c = renderChart(table, name);
          if (c) {
            chart = c;
            results.append(c.element);
            break;
          }
        }
        for (const { table, name } of shown) results.append(renderTable(table, name));
        csv.disabled = false;
      } catch (err) {
        showError(state, err);
        csv.disabled = true;
      } finally {
        run.disabled = false;
      }
    };

    csv.addEventListener('click', async () => {
      try {
        const lang = language.value as Language;
        const response =
          lang === 'sql'
            ? await query('/api/v3/query_sql', { db: database.value, q: editor.value, format: 'csv' })
            : await query('/query', { db: database.value, q: editor.value }, 'application/csv');
        const blob = await response.blob();
        const a = h('a', { href: URL.createObjectURL(blob), download: `${database.value}-query.csv` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      } catch (err) {
        showError(state, err);
      }
    });

    editor.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void execute();
      }
    });

    root.append(
      h('h1', {}, 'Query'),
      h(
        'form',
        {
          class: 'query-form',
          onsubmit: (e: Event) => {
            e.preventDefault();
            void execute();
          },
        },
        h('div', { class: 'row' }, field('Language', language), field('Database', database)),
        field('Query', editor),
        h('p', { id: 'query-help', class: 'note' }, 'Ctrl+Enter runs the query. Times show in your time zone; hover for UTC.'),
        h('div', { class: 'row' }, run, csv),
      ),
      state,
      results,
    );
    if (params.get('q')) void execute();
    return () => chart?.destroy();
  },
};

/// A result to show; `chartOnly` marks the merged table drawn as one chart.
interface Named {
  name: string;
  table: ResultTable;
  chartOnly?: boolean;
}

async function runQuery(language: Language, db: string, q: string): Promise<Named[]> {
  if (language === 'sql') {
    return [{ name: 'result', table: fromObjects(await sql(db, q)) }];
  }
  const out: Named[] = [];
  for (const result of await influxql(db, q)) {
    for (const series of result.series ?? []) {
      const tags = Object.entries(series.tags ?? {});
      const name = [series.name ?? '', ...tags.map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(' ');
      out.push({
        name: name || `statement ${result.statement_id}`,
        table: {
          columns: [...tags.map(([k]) => k), ...series.columns],
          rows: series.values.map((v) => [...tags.map(([, t]) => t), ...v]),
        },
      });
    }
  }
  if (out.length > 1 && out.every((o) => o.table.columns.includes('time'))) {
    // One chart over every series: the tags become columns of one table.
    const columns = [...new Set(out.flatMap((o) => o.table.columns))];
    const merged: ResultTable = {
      columns,
      rows: out.flatMap((o) => o.table.rows.map((r) => columns.map((c) => r[o.table.columns.indexOf(c)] ?? null))),
    };
    return [{ name: 'all series', table: merged, chartOnly: true }, ...out];
  }
  return out;
}
