// Type-checks the Vue and React examples of the READMEs (this package's and the service's)
// against vue.d.ts and react.d.ts, so that a renamed field or method shows up here.
// Each ```vue block's <script setup> becomes a .ts file and each ```jsx block a .jsx file in
// .readme-examples/ (git-ignored), imported under the package's own name, then tsc checks
// them. The templates are not checked (that would take vue-tsc).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(pkg, '.readme-examples');
const readmes = [join(pkg, 'README.md'), join(pkg, '..', '..', 'README.md')].filter(existsSync);

/** The examples of one README: [file name, source] for each vue or jsx block. */
function examples(readme, n) {
  const found = [];
  for (const [, lang, code] of readFileSync(readme, 'utf8').matchAll(/^```(vue|jsx)\n([\s\S]*?)^```$/gm)) {
    const name = `readme${n}-${found.length + 1}`;
    if (lang === 'jsx') found.push([`${name}.jsx`, code]);
    const script = lang === 'vue' && /<script setup>\n([\s\S]*?)<\/script>/.exec(code);
    if (script) found.push([`${name}.ts`, script[1]]);
  }
  return found;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = readmes.flatMap((readme, i) => examples(readme, i + 1));
if (files.length === 0) throw new Error('no Vue or React example found in ' + readmes.join(', '));
for (const [name, code] of files) writeFileSync(join(out, name), code);
// The router is the app's, not ours: only what the examples use of it.
writeFileSync(join(out, 'vue-router.d.ts'), "declare module 'vue-router' { export function useRoute(): { path: string }; }\n");
writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({
  extends: '../tsconfig.json',
  // Snippets: their props are untyped, and what the template uses looks unused here.
  compilerOptions: { jsx: 'react-jsx', noImplicitAny: false, noUnusedLocals: false },
  files: ['vue-router.d.ts', ...files.map(([name]) => name)],
}, null, 2));

const tsc = join(pkg, 'node_modules', 'typescript', 'bin', 'tsc');
const run = spawnSync(process.execPath, [tsc, '-p', out], { stdio: 'inherit' });
if (run.status !== 0) {
  console.error(`The README examples above do not type-check (generated in ${out}).`);
  process.exit(run.status || 1);
}
console.log(`README examples: ${files.length} type-checked (${files.map(([name]) => name).join(', ')})`);
