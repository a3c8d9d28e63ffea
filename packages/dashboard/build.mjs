// Builds the dashboard into dist/: one JavaScript bundle (Preact and uPlot included), one style
// sheet (uPlot's and ours) and index.html. No network at run time: the admin port serves these.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
const require = createRequire(import.meta.url);

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
await build({
  entryPoints: [join(here, 'src/main.tsx')],
  outfile: join(out, 'assets/app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
const css = [
  readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  readFileSync(join(here, 'src/styles.css'), 'utf8'),
];
const styled = await build({
  stdin: { contents: css.join('\n'), loader: 'css' },
  write: false,
  minify: true,
  logLevel: 'warning',
});
writeFileSync(join(out, 'assets/app.css'), styled.outputFiles[0].contents);
writeFileSync(
  join(out, 'index.html'),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Truce gateway</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<div id="app"></div>
</body>
</html>
`,
);
