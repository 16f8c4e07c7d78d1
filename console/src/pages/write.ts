// Write: paste line protocol or upload a file (plain or gzip) into a database through
// `POST /api/v3/write_lp`, with progress, listing every rejected line.

import { token } from '../api';
import { field, h, replace, showError, showInfo, status } from '../dom';
import * as fmt from '../format';
import type { Page } from '../page';

/// Plain text is sent in pieces of about this size, cut at line ends, so that files larger
/// than the server's request limit (10 MiB by default) go through.
const PIECE_BYTES = 4 << 20;

interface Rejected {
  line_number: number;
  error_message: string;
  original_line: string;
}

interface Outcome {
  rejected: Rejected[];
  error?: string;
}

/// One POST with upload progress (fetch() cannot report it).
function post(url: string, body: Blob, gzip: boolean, progress: (sent: number) => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    const t = token();
    if (t) xhr.setRequestHeader('Authorization', `Bearer ${t}`);
    xhr.setRequestHeader('Content-Type', 'text/plain; charset=utf-8');
    if (gzip) xhr.setRequestHeader('Content-Encoding', 'gzip');
    xhr.upload.onprogress = (e) => progress(e.loaded);
    xhr.onerror = () => reject(new Error('the server could not be reached'));
    xhr.onload = () => {
      progress(body.size);
      if (xhr.status === 204) return resolve({ rejected: [] });
      let answer: { error?: string; message?: string; data?: Rejected[] } = {};
      try {
        answer = JSON.parse(xhr.responseText);
      } catch {
        answer = { error: xhr.responseText };
      }
      if (xhr.status === 400 && Array.isArray(answer.data)) return resolve({ rejected: answer.data, error: answer.error });
      reject(new Error(`${xhr.status}: ${answer.error ?? answer.message ?? xhr.statusText}`));
    };
    xhr.send(body);
  });
}

/// Splits plain text at line ends into pieces of about PIECE_BYTES; returns each piece with
/// the number of lines before it.
async function pieces(file: Blob): Promise<{ blob: Blob; linesBefore: number }[]> {
  if (file.size <= PIECE_BYTES) return [{ blob: file, linesBefore: 0 }];
  const bytes = new Uint8Array(await file.arrayBuffer());
  const out: { blob: Blob; linesBefore: number }[] = [];
  let start = 0;
  let lines = 0;
  while (start < bytes.length) {
    let end = Math.min(start + PIECE_BYTES, bytes.length);
    if (end < bytes.length) {
      const nl = bytes.indexOf(10, end);
      end = nl < 0 ? bytes.length : nl + 1;
    }
    const piece = bytes.subarray(start, end);
    out.push({ blob: new Blob([piece]), linesBefore: lines });
    for (const b of piece) if (b === 10) lines++;
    start = end;
  }
  return out;
}

async function isGzip(file: Blob): Promise<boolean> {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  return head[0] === 0x1f && head[1] === 0x8b;
}

export const writePage: Page = {
  path: '/write',
  title: 'Write',
  mount(root, who) {
    const database = h('input', { id: 'write-db', type: 'text', list: 'write-dbs', required: true, value: who.write[0] ?? '', autocomplete: 'off' });
    const precision = h(
      'select',
      { id: 'write-precision' },
      ['auto', 'ns', 'us', 'ms', 's'].map((p) => h('option', { value: p }, p === 'auto' ? 'auto (guess from magnitude)' : p)),
    );
    const text = h('textarea', { id: 'write-text', rows: 8, spellcheck: 'false', placeholder: 'home,room=kitchen temp=21.5,hum=40i 1735545600' });
    const file = h('input', { id: 'write-file', type: 'file', accept: '.lp,.txt,.gz,.line,text/plain,application/gzip' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Write');
    const progress = h('progress', { id: 'write-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
    const state = status();
    const results = h('div', { id: 'write-results' });

    const write = async (e: Event) => {
      e.preventDefault();
      const db = database.value.trim();
      if (!db) return showError(state, 'Choose a database.');
      const chosen = file.files?.[0];
      const source: Blob | null = chosen ?? (text.value.trim() ? new Blob([text.value]) : null);
      if (!source) return showError(state, 'Paste line protocol or choose a file.');
      submit.disabled = true;
      replace(results);
      const gzip = await isGzip(source);
      const parts = gzip ? [{ blob: source, linesBefore: 0 }] : await pieces(source);
      const total = source.size;
      progress.hidden = false;
      progress.max = total;
      progress.value = 0;
      const url = `/api/v3/write_lp?db=${encodeURIComponent(db)}&precision=${precision.value}&accept_partial=true`;
      const rejected: Rejected[] = [];
      let sentBefore = 0;
      const started = performance.now();
      try {
        for (const part of parts) {
          showInfo(state, `Sending ${fmt.bytes(total)}${gzip ? ' (gzip)' : ''}…`);
          const outcome = await post(url, part.blob, gzip, (sent) => {
            progress.value = sentBefore + sent;
            showInfo(state, `Sent ${fmt.bytes(sentBefore + sent)} of ${fmt.bytes(total)}`);
          });
          sentBefore += part.blob.size;
          for (const r of outcome.rejected) rejected.push({ ...r, line_number: r.line_number + part.linesBefore });
        }
        const took = fmt.seconds((performance.now() - started) / 1000);
        if (rejected.length === 0) showInfo(state, `Written: ${fmt.bytes(total)} in ${took}, every line accepted.`);
        else showError(state, `Written in ${took}, except ${fmt.count(rejected.length)} rejected ${rejected.length === 1 ? 'line' : 'lines'}:`);
        if (rejected.length)
          results.append(
            h(
              'div',
              { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Rejected lines' },
              h(
                'table',
                { id: 'write-rejected' },
                h('thead', {}, h('tr', {}, ['Line', 'Reason', 'Text'].map((c) => h('th', { scope: 'col' }, c)))),
                h(
                  'tbody',
                  {},
                  rejected.map((r) => h('tr', {}, h('td', { class: 'num' }, String(r.line_number)), h('td', {}, r.error_message), h('td', {}, h('code', { class: 'line' }, r.original_line)))),
                ),
              ),
            ),
          );
      } catch (err) {
        showError(state, err);
      } finally {
        submit.disabled = false;
      }
    };

    root.append(
      h('h1', {}, 'Write'),
      h(
        'form',
        { class: 'write-form', onsubmit: write },
        h('datalist', { id: 'write-dbs' }, who.write.map((d) => h('option', { value: d }))),
        h('div', { class: 'row' }, field('Database', database), field('Precision', precision)),
        field('Line protocol', text),
        field('…or a file (plain or gzip; a file is sent instead of the text)', file),
        h('div', { class: 'row' }, submit, progress),
      ),
      state,
      results,
    );
  },
};
