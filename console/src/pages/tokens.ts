// Tokens (admin): list, create with per-database read/write, revoke
// (`/api/v3/configure/token`).

import { json, call } from '../api';
import { field, h, replace, showError, showInfo, status } from '../dom';
import * as fmt from '../format';
import type { Page } from '../page';

interface Permission {
  database: string;
  actions: ('read' | 'write')[];
}
interface TokenInfo {
  id: string;
  name: string;
  admin: boolean;
  permissions: Permission[];
  created_at: string;
}

export const tokensPage: Page = {
  path: '/tokens',
  title: 'Tokens',
  adminOnly: true,
  mount(root, who) {
    const state = status();
    const body = h('tbody');
    const created = h('div', { class: 'created', 'aria-live': 'polite' });
    const name = h('input', { id: 'token-name', type: 'text', placeholder: 'telegraf' });
    const grants = h('tbody');

    const addGrant = (db = '', read = true, write = false) => {
      const dbInput = h('input', { type: 'text', list: 'known-dbs', value: db, 'aria-label': 'Database (* for all)', class: 'grant-db', required: true });
      const readBox = h('input', { type: 'checkbox', 'aria-label': 'read', class: 'grant-read', checked: read });
      const writeBox = h('input', { type: 'checkbox', 'aria-label': 'write', class: 'grant-write', checked: write });
      const row: HTMLTableRowElement = h(
        'tr',
        {},
        h('td', {}, dbInput),
        h('td', {}, h('label', {}, readBox, ' read')),
        h('td', {}, h('label', {}, writeBox, ' write')),
        h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => row.remove() }, 'Remove')),
      );
      grants.append(row);
    };
    addGrant(who.write[0] ?? '', true, false);

    const refresh = async () => {
      try {
        const { tokens } = await json<{ tokens: TokenInfo[] }>('/api/v3/configure/token');
        replace(
          body,
          tokens.map((t) =>
            h(
              'tr',
              { 'data-token-id': t.id },
              h('td', {}, h('code', {}, t.id)),
              h('td', {}, t.name || (t.admin ? 'admin' : '–')),
              h('td', {}, t.admin ? 'everything (admin)' : t.permissions.map((p) => `${p.database}: ${p.actions.join(', ')}`).join('; ')),
              h('td', {}, fmt.parseTime(t.created_at) ? fmt.time(fmt.parseTime(t.created_at)!) : t.created_at),
              h(
                'td',
                {},
                t.admin
                  ? ''
                  : h('button', { type: 'button', class: 'danger', onclick: () => void revoke(t) }, `Revoke ${t.name || t.id}`),
              ),
            ),
          ),
        );
      } catch (err) {
        showError(state, err);
      }
    };

    const revoke = async (t: TokenInfo) => {
      if (!confirm(`Revoke the token ${t.name || t.id}? Clients using it stop working at once.`)) return;
      try {
        await call(`/api/v3/configure/token?id=${encodeURIComponent(t.id)}`, { method: 'DELETE' });
        showInfo(state, `Revoked ${t.name || t.id}.`);
        await refresh();
      } catch (err) {
        showError(state, err);
      }
    };

    const create = async (e: Event) => {
      e.preventDefault();
      const permissions: Permission[] = [];
      for (const row of grants.querySelectorAll('tr')) {
        const database = (row.querySelector('.grant-db') as HTMLInputElement).value.trim();
        const actions: Permission['actions'] = [];
        if ((row.querySelector('.grant-read') as HTMLInputElement).checked) actions.push('read');
        if ((row.querySelector('.grant-write') as HTMLInputElement).checked) actions.push('write');
        if (database) permissions.push({ database, actions });
      }
      try {
        const answer = await json<{ id: string; token: string; name: string }>('/api/v3/configure/token', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: name.value.trim(), permissions }),
        });
        const secret = h('input', { type: 'text', readonly: true, value: answer.token, id: 'new-token', 'aria-label': 'The new token' });
        replace(
          created,
          h('p', {}, `Created ${answer.name || answer.id}. Copy the token now: it is shown only once.`),
          secret,
          h('button', { type: 'button', onclick: () => void navigator.clipboard?.writeText(answer.token) }, 'Copy'),
        );
        secret.select();
        showInfo(state, '');
        await refresh();
      } catch (err) {
        showError(state, err);
      }
    };

    root.append(
      h('h1', {}, 'Tokens'),
      h('datalist', { id: 'known-dbs' }, h('option', { value: '*' }), who.write.map((d) => h('option', { value: d }))),
      h(
        'div',
        { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Tokens' },
        h(
          'table',
          { id: 'tokens' },
          h('thead', {}, h('tr', {}, ['Id', 'Name', 'Permissions', 'Created', ''].map((c) => h('th', { scope: 'col' }, c)))),
          body,
        ),
      ),
      state,
      h(
        'form',
        { class: 'card', onsubmit: create },
        h('h2', {}, 'Create a token'),
        field('Name', name),
        h('table', { class: 'grants' }, h('caption', {}, 'Databases (* means every database)'), grants),
        h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => addGrant() }, 'Add a database'), h('button', { type: 'submit', class: 'primary' }, 'Create token')),
        created,
      ),
    );
    void refresh();
  },
};
