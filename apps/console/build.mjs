// Bundles the console into dist/console (index.html, console.js, console.css): `npm run build` runs it
// after tsc, and the orchestrator serves that directory at /console. Nothing is fetched at run time.
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../../dist/console');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(here, 'src/main.tsx')],
  outfile: path.join(out, 'console.js'),
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'iife',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: path.join(here, 'tsconfig.json'),
  logLevel: 'warning',
});
for (const file of ['index.html', 'console.css']) copyFileSync(path.join(here, file), path.join(out, file));
