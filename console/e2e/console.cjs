// Drives Debian's chromium (through playwright-core) through every page of the console
// against a running `sluice serve`. Run by crates/sluice/tests/console.rs with
//   SLUICE_URL        http://127.0.0.1:PORT
//   SLUICE_TOKEN      the admin token
//   SCREENSHOT_DIR    where to save a PNG of each page
//   NODE_PATH         the node_modules scripts/console-deps.sh installed
// Exits 0 when every check passed; otherwise prints what failed and exits 1.
'use strict';
const { chromium } = require('playwright-core');
const path = require('node:path');
const fs = require('node:fs');
const zlib = require('node:zlib');

const URL = process.env.SLUICE_URL;
const ADMIN = process.env.SLUICE_TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR;
const WAIT = 60_000; // generous: the machine running the tests may be loaded
fs.mkdirSync(SHOTS, { recursive: true });

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

async function write(db, body, userAgent = 'console-e2e-writer/1.0') {
  const r = await fetch(`${URL}/api/v3/write_lp?db=${db}&precision=ms`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'User-Agent': userAgent },
    body,
  });
  return r.status;
}

async function shot(page, name, fullPage = false) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

async function signIn(page, token) {
  await page.goto(`${URL}/`);
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${URL}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).waitFor({ timeout: WAIT });
}

async function go(page, name) {
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor({ timeout: WAIT });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'Europe/Paris' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());

  // Two databases: the read-only token made below may read only `metrics`.
  const now = Date.now();
  const seed = [];
  for (let i = 0; i < 60; i++)
    for (const host of ['a', 'b', 'c'])
      seed.push(`cpu,host=${host},region=eu usage=${(i % 10) + host.charCodeAt(0) - 96},temp=${20 + (i % 7)}i ${now - (60 - i) * 10_000}`);
  // A table with one high-cardinality tag: 40 request ids, 2 paths.
  for (let i = 0; i < 40; i++) seed.push(`http,path=/p${i % 2},request_id=q${String(i).padStart(2, '0')} ms=${i} ${now - 1000}`);
  check((await write('metrics', seed.join('\n'))) === 204, 'seed data written to metrics');
  check((await write('other', `secret,host=x v=1 ${now}`)) === 204, 'seed data written to other');

  // ---- sign-in ----
  await page.goto(`${URL}/`);
  await page.getByLabel('Token').waitFor();
  await shot(page, '01-signin');
  await page.getByLabel('Token').fill('sluice_not_a_token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That token is not valid.').waitFor();
  check(true, 'a wrong token is refused with a message');
  await signIn(page, ADMIN);
  check(await page.getByRole('link', { name: 'Tokens' }).isVisible(), 'the admin sees the Tokens page');

  // ---- ingest: the chart moves while a writer runs ----
  await go(page, 'Ingest');
  let writing = true;
  let n = 0;
  const writer = (async () => {
    while (writing) {
      const lines = [];
      for (let i = 0; i < 200; i++) lines.push(`load,host=w${i % 5} v=${n++} ${Date.now() - 1000 + i}`);
      await write('metrics', lines.join('\n'));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const accepted = page.locator('dd[data-metric="Accepted"]');
  await page.waitForFunction(
    () => {
      const dd = document.querySelector('dd[data-metric="Accepted"]');
      return dd && /[1-9]/.test(dd.textContent) && dd.textContent.includes('lines/s');
    },
    null,
    { timeout: WAIT },
  );
  check(true, `the ingest summary shows lines arriving: ${await accepted.textContent()}`);
  const firstCanvas = page.locator('.chart canvas').first();
  const pixelsBefore = await firstCanvas.evaluate((c) => c.toDataURL());
  await page.waitForTimeout(3000);
  const pixelsAfter = await firstCanvas.evaluate((c) => c.toDataURL());
  check(pixelsBefore !== pixelsAfter, 'the accepted-lines chart moves while the writer runs');
  check((await page.locator('.chart canvas').count()) === 8, 'eight ingest charts are drawn');
  // A bad line while the page is open: the rejected-lines rate goes up too.
  check((await write('metrics', 'probe v=1\ncpu,host=bad\ncpu,host=a usage="text"')) === 400, 'a write with two bad lines is answered 400');
  check((await write('other', 'secret,host=y')) === 400, 'a bad line in the other database');
  await page.waitForFunction(
    () => /[1-9]/.test(document.querySelector('dd[data-metric="Rejected"]')?.textContent ?? ''),
    null,
    { timeout: WAIT },
  );
  check(true, 'the ingest summary shows rejected lines');
  await page.waitForTimeout(2000);
  await shot(page, '02-ingest', true);
  // One database at a time: `other` gets nothing while the writer writes to `metrics`.
  await page.locator('#ingest-db').selectOption('other');
  await page.locator('figure[aria-label="Lines accepted and rejected — other"] canvas').waitFor();
  await page.waitForTimeout(2500);
  const otherAccepted = await accepted.textContent();
  check(otherAccepted === '0.0 lines/s', `the other database's chart shows no lines arriving (${otherAccepted})`);
  await page.locator('#ingest-db').selectOption('metrics');
  await page.locator('figure[aria-label="Lines accepted and rejected — metrics"] canvas').waitFor();
  await page.waitForFunction(
    () => /[1-9]/.test(document.querySelector('dd[data-metric="Accepted"]')?.textContent ?? ''),
    null,
    { timeout: WAIT },
  );
  check(true, `the metrics database's chart shows its lines: ${await accepted.textContent()}`);
  check((await page.locator('.chart canvas').count()) === 8, 'eight charts for one database too');
  check((await page.locator('figure[aria-label="Write latency — whole server"]').count()) === 1, 'the charts kept for the whole server say so');
  const dbCanvas = page.locator('figure[aria-label="Lines accepted and rejected — metrics"] canvas');
  const dbBefore = await dbCanvas.evaluate((c) => c.toDataURL());
  await page.waitForTimeout(3000);
  check(dbBefore !== (await dbCanvas.evaluate((c) => c.toDataURL())), 'the per-database chart moves while the writer runs');
  await shot(page, '02b-ingest-one-database', true);
  // The same charts, with a minute of samples, on a phone-sized window: fewer, shorter
  // time labels that do not overlap (looked at in the screenshot).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(1500);
  await shot(page, '02c-phone-ingest-live');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.locator('#ingest-db').selectOption('');
  writing = false;
  await writer;

  // ---- rejected lines ----
  await go(page, 'Rejected lines');
  const rejections = page.locator('#rejections tbody tr');
  await page.locator('#rejections tbody tr', { hasText: 'cpu,host=bad' }).waitFor();
  const badRow = await page.locator('#rejections tbody tr', { hasText: 'cpu,host=bad' }).textContent();
  check(/missing fields/.test(badRow), `the rejected line shows its reason: ${badRow}`);
  check(/console-e2e-writer/.test(badRow) && /127\.0\.0\.1/.test(badRow), 'with the client address and user agent');
  check((await page.locator('#rejections tbody tr', { hasText: 'field type conflict' }).count()) === 1, 'the type conflict is listed');
  check((await rejections.count()) === 3, 'the admin sees the rejections of both databases');
  await page.locator('#rejections-reason').selectOption('field type conflict');
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('#rejections tbody tr');
    return rows.length === 1 && rows[0].textContent.includes('field type conflict');
  });
  check(/field type conflict/.test(await rejections.first().textContent()), 'filtering by reason keeps only that reason');
  await page.locator('#rejections-reason').selectOption('');
  await page.locator('#rejections-db').selectOption('other');
  // Until the filtered answer arrives the table may still show the previous filter's row.
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('#rejections tbody tr');
    return rows.length === 1 && rows[0].textContent.includes('secret,host=y');
  });
  check(/secret,host=y/.test(await rejections.first().textContent()), 'filtering by database keeps only that database');
  await page.locator('#rejections-db').selectOption('');
  await page.waitForFunction(() => document.querySelectorAll('#rejections tbody tr').length === 3);
  await shot(page, '03-rejections');

  // ---- query: SQL and InfluxQL, rows and a chart ----
  await go(page, 'Query');
  await page.locator('#query-db').selectOption('metrics');
  await page.locator('#query-language').selectOption('sql');
  await page.locator('#query-text').fill('SELECT time, host, usage FROM cpu ORDER BY time, host');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByText(/180 rows in/).waitFor();
  check((await page.locator('.results .table-wrap tbody tr').count()) === 180, 'the SQL query shows its 180 rows');
  check((await page.locator('.results figure.chart canvas').count()) === 1, 'and a line chart');
  const cell = page.locator('.results .table-wrap tbody tr').first().locator('time');
  check(/\(UTC\)$/.test(await cell.getAttribute('title')), 'times show UTC on hover');
  await shot(page, '04-query-sql');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  check(csv.startsWith('time,host,usage') && csv.trim().split('\n').length === 181, 'the CSV download has a header and every row');
  await page.locator('#query-language').selectOption('influxql');
  await page.locator('#query-text').fill('SELECT mean(usage) FROM cpu WHERE time > now() - 1h GROUP BY time(1m), host');
  await page.locator('#query-text').press('Control+Enter');
  await page.getByText(/rows in/).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('.results .table-wrap').length >= 3);
  check((await page.locator('.results figure.chart canvas').count()) === 1, 'the InfluxQL query draws a chart');
  check((await page.locator('.results table caption', { hasText: 'cpu host=b' }).count()) === 1, 'and a table per series');
  await shot(page, '05-query-influxql');
  await page.locator('#query-text').fill('SELECT nope FROM');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.locator('.status.error').waitFor();
  check(/error parsing query/.test(await page.locator('.status.error').textContent()), 'a bad query shows the server\'s message');

  // ---- write: upload a small file with one bad line ----
  await go(page, 'Write');
  await page.locator('#write-db').fill('uploads');
  await page.locator('#write-precision').selectOption('s');
  const file = ['mem,host=a used=1i 1735545600', 'mem,host=a used=2i 1735545660', 'mem,host=a used=oops 1735545720', 'mem,host=b used=3i 1735545600'].join('\n');
  await page.locator('#write-file').setInputFiles({ name: 'mem.lp.gz', mimeType: 'application/gzip', buffer: zlib.gzipSync(file) });
  await page.getByRole('button', { name: 'Write', exact: true }).click();
  await page.locator('#write-rejected tbody tr').waitFor();
  const rejectedRow = await page.locator('#write-rejected tbody tr').textContent();
  check((await page.locator('#write-rejected tbody tr').count()) === 1 && rejectedRow.startsWith('3') && /used=oops/.test(rejectedRow), `the bad line is listed with its number and reason: ${rejectedRow}`);
  await shot(page, '06-write');

  // ---- databases and cardinality ----
  await go(page, 'Databases');
  await page.locator('#databases-db').selectOption('metrics');
  await page.locator('section[aria-label="Table cpu"] dd', { hasText: '180' }).waitFor();
  const cpuCard = await page.locator('section[aria-label="Table cpu"]').textContent();
  check(/Series3/.test(cpuCard.replace(/\s/g, '')) && /usagefieldfloat/.test(cpuCard.replace(/\s/g, '')) && /tempfieldinteger/.test(cpuCard.replace(/\s/g, '')), 'the cpu table shows its schema, rows and series');
  // The server persists every second here (console.rs): the seed data is on disk by now.
  const disk = await page.locator('section[aria-label="Table cpu"] dd[data-stat="disk"]').textContent();
  check(/^[1-9][\d.]* (B|KiB|MiB|GiB) in [1-9]\d* Parquet files?$/.test(disk), `the cpu table shows its bytes on disk with a unit (${disk})`);
  check(/(B|KiB|MiB) in memory, [\d,]+ rows$/.test(await page.locator('section[aria-label="Table cpu"] dd[data-stat="buffer"]').textContent()), 'and its bytes in memory');
  check(/Parquet files on disk/.test(await page.locator('#retention').textContent()), 'the database shows its bytes on disk');
  await page.locator('#cardinality-run').click();
  await page.locator('#cardinality-values tbody tr').first().waitFor();
  const topKey = await page.locator('#cardinality-keys tbody tr').first().textContent();
  check(/request_id/.test(topKey) && /40/.test(topKey), `the cardinality view ranks the high-cardinality tag first (${topKey})`);
  check(/load/.test(await page.locator('#cardinality-keys').textContent()), 'and lists the other tag keys');
  check(/http/.test(await page.locator('#cardinality-tables tbody tr').first().textContent()), 'the table with the most series comes first');
  // Cards arrive one by one (each runs its own count): wait for all four.
  await page.waitForFunction(() => document.querySelectorAll('section.table-card').length >= 4);
  check((await page.locator('section.table-card').count()) === 4, 'each table is shown once');
  await page.locator('#cardinality-table').selectOption('cpu');
  await page.locator('#cardinality-run').click();
  await page.waitForFunction(() => document.querySelector('#cardinality-total')?.textContent?.startsWith('3 series'));
  check(/^host/.test((await page.locator('#cardinality-keys tbody tr').first().textContent()).replace(/^cpu/, '')), 'one table\'s cardinality ranks its own tags');
  await page.locator('#cardinality-table').selectOption('');
  await page.locator('#cardinality-run').click();
  await page.waitForFunction(() => document.querySelector('#cardinality-total')?.textContent?.startsWith('49 series'));
  await shot(page, '07-databases', true);
  await page.locator('#cardinality').screenshot({ path: path.join(SHOTS, '07b-cardinality.png') });

  // ---- tokens: create two, revoke one ----
  await go(page, 'Tokens');
  await page.locator('#token-name').fill('reader');
  await page.locator('.grant-db').first().fill('metrics');
  await page.getByRole('button', { name: 'Create token' }).click();
  const readerToken = await page.locator('#new-token').inputValue();
  check(readerToken.startsWith('sluice_'), 'a new token is shown once');
  await page.locator('#tokens tbody tr', { hasText: 'reader' }).waitFor();
  await page.locator('#token-name').fill('doomed');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('#tokens tbody tr', { hasText: 'doomed' }).waitFor();
  await shot(page, '08-tokens');
  await page.getByRole('button', { name: 'Revoke doomed' }).click();
  await page.locator('#tokens tbody tr', { hasText: 'doomed' }).waitFor({ state: 'detached' });
  check((await page.locator('#tokens tbody tr').count()) === 2, 'the revoked token is gone from the list');

  // ---- the read-only token ----
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, readerToken);
  check(!(await page.getByRole('link', { name: 'Tokens' }).isVisible()), 'a read-only token does not see the Tokens page');
  await go(page, 'Databases');
  const options = await page.locator('#databases-db option').allTextContents();
  check(options.length === 1 && options[0] === 'metrics', `a read-only token sees only its database (${options})`);
  await go(page, 'Ingest');
  await page.waitForTimeout(2500);
  const ingestOptions = await page.locator('#ingest-db option').allTextContents();
  check(ingestOptions.join('|') === 'All databases (whole server)|metrics', `the ingest page offers a read-only token only its database (${ingestOptions})`);
  await go(page, 'Rejected lines');
  await page.locator('#rejections tbody tr', { hasText: 'cpu,host=bad' }).waitFor();
  check((await rejections.count()) === 2 && !(await page.locator('#rejections', { hasText: 'secret' }).count()), 'and only its database\'s rejections');
  await shot(page, '09-readonly-rejections');
  await page.goto(`${URL}/#/tokens`);
  await page.getByRole('heading', { level: 1 }).waitFor();
  check((await page.getByRole('heading', { level: 1 }).textContent()) !== 'Tokens', 'the tokens page cannot be opened by its address either');

  // ---- keyboard and phone ----
  await page.reload();
  await page.getByRole('navigation', { name: 'Pages' }).waitFor();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  check(focused === 'Skip to content', 'the first Tab reaches "Skip to content"');
  await page.setViewportSize({ width: 390, height: 844 });
  await go(page, 'Query');
  await page.locator('#query-text').fill('SELECT time, host, usage FROM cpu ORDER BY time DESC LIMIT 20');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByText(/20 rows in/).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the phone-sized page does not scroll sideways (${overflow}px)`);
  await shot(page, '10-phone-query');
  await signIn(page, ADMIN);
  await go(page, 'Ingest');
  await page.waitForTimeout(2500);
  await shot(page, '11-phone-ingest');
  await go(page, 'Databases');
  await page.locator('#databases-db').selectOption('metrics');
  await page.locator('section[aria-label="Table cpu"] dd[data-stat="disk"]').waitFor();
  await page.locator('#cardinality-run').click();
  await page.locator('#cardinality-values tbody tr').first().waitFor();
  const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(phoneOverflow <= 1, `the phone-sized databases page does not scroll sideways (${phoneOverflow}px)`);
  await shot(page, '12-phone-databases', true);
  await page.locator('#cardinality').screenshot({ path: path.join(SHOTS, '12b-phone-cardinality.png') });
  await page.locator('section[aria-label="Table cpu"]').screenshot({ path: path.join(SHOTS, '12c-phone-table-card.png') });

  check(consoleErrors.length === 0, `no script errors (${consoleErrors.join('; ')})`);
  await browser.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
