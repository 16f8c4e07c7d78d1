// Rejected lines: the server's log of recent rejections (`GET /api/v3/rejections`),
// refreshed every two seconds, filterable by database and reason.

import { json } from '../api';
import { field, h, replace, showError, status } from '../dom';
import * as fmt from '../format';
import type { Page } from '../page';

interface Rejection {
  id: number;
  time_ns: number;
  database: string;
  client_address: string | null;
  user_agent: string | null;
  line_number: number;
  column: number | null;
  reason: string;
  kind: string;
  text: string;
}

interface Answer {
  rejections: Rejection[];
  kinds: Record<string, number>;
  capacity: number;
}

const SHOWN = 200;

export const rejectionsPage: Page = {
  path: '/rejections',
  title: 'Rejected lines',
  mount(root, who) {
    const database = h('select', { id: 'rejections-db' }, h('option', { value: '' }, 'all databases'), who.read.map((d) => h('option', { value: d }, d)));
    const reason = h('select', { id: 'rejections-reason' }, h('option', { value: '' }, 'all reasons'));
    const state = status();
    const body = h('tbody');
    const summary = h('p', { class: 'note' });
    let timer: number | undefined;

    const refresh = async () => {
      const params = new URLSearchParams({ limit: String(SHOWN) });
      if (database.value) params.set('db', database.value);
      if (reason.value) params.set('reason', reason.value);
      try {
        const answer = await json<Answer>(`/api/v3/rejections?${params}`);
        const chosen = reason.value;
        replace(
          reason,
          h('option', { value: '' }, 'all reasons'),
          Object.entries(answer.kinds).map(([k, n]) => h('option', { value: k }, `${k} (${fmt.count(n)})`)),
        );
        if (chosen && !(chosen in answer.kinds)) reason.append(h('option', { value: chosen }, chosen));
        reason.value = chosen;
        const total = Object.values(answer.kinds).reduce((a, b) => a + b, 0);
        summary.textContent = `The server keeps the last ${fmt.count(answer.capacity)} rejected lines (at most 100 from one request); ${fmt.count(total)} of them are in databases this token may read. Showing the newest ${Math.min(SHOWN, answer.rejections.length)}.`;
        state.textContent = '';
        replace(
          body,
          answer.rejections.length === 0
            ? h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No rejected lines.'))
            : answer.rejections.map((r) =>
                h(
                  'tr',
                  {},
                  h('td', {}, fmt.time(new Date(r.time_ns / 1e6))),
                  h('td', {}, r.database),
                  h('td', {}, r.client_address ?? '–'),
                  h('td', { class: 'agent' }, r.user_agent ?? '–'),
                  h('td', { class: 'num' }, r.column ? `${r.line_number}:${r.column}` : String(r.line_number)),
                  h('td', {}, r.reason),
                  h('td', {}, h('code', { class: 'line' }, r.text)),
                ),
              ),
        );
      } catch (err) {
        showError(state, err);
      }
    };
    database.addEventListener('change', () => void refresh());
    reason.addEventListener('change', () => void refresh());

    root.append(
      h('h1', {}, 'Rejected lines'),
      h('div', { class: 'row' }, field('Database', database), field('Reason', reason)),
      summary,
      state,
      h(
        'div',
        { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Rejected lines' },
        h(
          'table',
          { id: 'rejections' },
          h(
            'thead',
            {},
            h('tr', {}, ['Time', 'Database', 'Client', 'User agent', 'Line:col', 'Reason', 'Text'].map((c) => h('th', { scope: 'col' }, c))),
          ),
          body,
        ),
      ),
    );
    void refresh();
    timer = window.setInterval(() => void refresh(), 2000);
    return () => window.clearInterval(timer);
  },
};
