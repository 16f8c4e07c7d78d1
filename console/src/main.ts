// The console's shell: sign-in gate, navigation, and a hash router over the page modules.

import 'uplot/dist/uPlot.min.css';
import './style.css';

import { ApiError, Identity, setToken, token, whoami } from './api';
import { h, replace } from './dom';
import type { Page } from './page';
import { signIn } from './pages/signin';
import { ingestPage } from './pages/ingest';
import { rejectionsPage } from './pages/rejections';
import { databasesPage } from './pages/databases';
import { queryPage } from './pages/query';
import { writePage } from './pages/write';
import { tokensPage } from './pages/tokens';

const PAGES: Page[] = [ingestPage, rejectionsPage, databasesPage, queryPage, writePage, tokensPage];

const app = document.getElementById('app')!;
let leave: (() => void) | void;

async function start(): Promise<void> {
  if (!token()) {
    showSignIn();
    return;
  }
  let who: Identity;
  try {
    who = await whoami();
  } catch (err) {
    setToken(null);
    showSignIn(err instanceof ApiError && err.status === 401 ? 'That token is not valid.' : String(err));
    return;
  }
  showConsole(who);
}

function showSignIn(message?: string): void {
  leave?.();
  leave = undefined;
  replace(app, signIn(message, start));
}

function showConsole(who: Identity): void {
  const pages = PAGES.filter((p) => !p.adminOnly || who.admin);
  const main = h('main', { id: 'main', tabindex: '-1' });
  const links = pages.map((p) => h('a', { href: `#${p.path}`, 'data-path': p.path }, p.title));
  const signOut = h(
    'button',
    {
      type: 'button',
      class: 'link',
      onclick: () => {
        setToken(null);
        location.hash = '';
        showSignIn();
      },
    },
    'Sign out',
  );
  const identity = who.auth ? `${who.admin ? 'admin' : who.name || 'token'}` : 'auth off';
  replace(
    app,
    h('a', { class: 'skip', href: '#main', onclick: (e: Event) => (e.preventDefault(), main.focus()) }, 'Skip to content'),
    h(
      'header',
      {},
      h('span', { class: 'brand' }, 'sluice'),
      h('nav', { 'aria-label': 'Pages' }, links),
      h('span', { class: 'who', title: 'the signed-in token' }, identity),
      signOut,
    ),
    main,
  );
  const route = () => {
    const path = location.hash.slice(1) || pages[0].path;
    const page = pages.find((p) => p.path === path.split('?')[0]) ?? pages[0];
    for (const link of links) {
      if (link.dataset.path === page.path) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    leave?.();
    main.replaceChildren();
    document.title = `${page.title} · sluice`;
    leave = page.mount(main, who);
  };
  window.onhashchange = route;
  route();
}

void start();
