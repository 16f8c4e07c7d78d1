// Sign-in: the token is kept in this tab's session storage and sent as `Authorization`.

import { setToken } from '../api';
import { field, h } from '../dom';

export function signIn(message: string | undefined, done: () => void): HTMLElement {
  const input = h('input', {
    type: 'password',
    name: 'token',
    id: 'token',
    autocomplete: 'current-password',
    required: true,
    placeholder: 'sluice_…',
  });
  const error = h('p', { class: 'status error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    {
      class: 'signin',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        setToken(value);
        done();
      },
    },
    h('h1', {}, 'sluice console'),
    h(
      'p',
      {},
      'Sign in with a token: the admin token printed at the first start, or a database token. ',
      'It is kept in this browser tab only (session storage). On a server started with --without-auth, any text works.',
    ),
    field('Token', input),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    error,
  );
  queueMicrotask(() => input.focus());
  return h('main', { class: 'signin-page' }, form);
}
