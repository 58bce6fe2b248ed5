// Builds web/dist: index.html, app.js, app.css (the call page and widget) and embed.js (the
// "Talk to us" launcher for other sites). `node build.mjs --dev` adds source maps.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const dev = process.argv.includes('--dev');
const target = ['chrome109', 'edge109', 'firefox115', 'safari15'];

const common = {
  bundle: true,
  minify: !dev,
  sourcemap: dev ? 'linked' : false,
  target,
  legalComments: 'eof',
  logLevel: 'warning',
  write: false,
};

const [app, css] = await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [join(src, 'app.ts')],
    format: 'iife',
    outfile: join(dist, 'app.js'),
  }),
  esbuild.build({
    ...common,
    entryPoints: [join(src, 'styles.css')],
    outfile: join(dist, 'app.css'),
  }),
]);

const hash = createHash('sha256');
for (const file of [...app.outputFiles, ...css.outputFiles]) hash.update(file.contents);
const version = hash.digest('hex').slice(0, 12);

const embed = await esbuild.build({
  ...common,
  entryPoints: [join(src, 'embed.ts')],
  format: 'iife',
  outfile: join(dist, 'embed.js'),
  loader: { '.css': 'text' },
  define: { __ASSET_VERSION__: JSON.stringify(version) },
});

const html = (await readFile(join(src, 'index.html'), 'utf8')).replaceAll(
  '__ASSET_VERSION__',
  version,
);

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
for (const file of [...app.outputFiles, ...css.outputFiles, ...embed.outputFiles]) {
  await writeFile(file.path, file.contents);
}
await writeFile(join(dist, 'index.html'), html);
console.log(`web/dist built (assets ${version})`);
