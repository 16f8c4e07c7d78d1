// Bundles src/main.ts (and the CSS it imports) into dist/ with content-hashed names, and
// writes dist/index.html naming them. Run by crates/sluice-server/build.rs.
import * as esbuild from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename } from 'node:path';

mkdirSync('dist', { recursive: true });
const result = await esbuild.build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: 'dist',
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((n) => n.endsWith('.js'));
const css = outputs.find((n) => n.endsWith('.css'));
if (!js || !css) throw new Error(`esbuild wrote ${outputs.join(', ')}: expected a .js and a .css`);
const html = readFileSync('index.html', 'utf8')
  .replace('%MAIN_JS%', `/assets/${js}`)
  .replace('%MAIN_CSS%', `/assets/${css}`);
writeFileSync('dist/index.html', html);
