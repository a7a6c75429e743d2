// Bundles what the .vsix ships, with esbuild: the extension (dist/extension.js), the LSP server (dist/server.js),
// the engine CLI (dist/engine.js), the chat webview script (media/dist/chat.js), and the tree-sitter WASM files
// the server parses with (dist/*.wasm, beside the bundle where web-tree-sitter looks by default).
// Usage: node extension/bundle.mjs [--production]   (production: minified, no source maps)
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');
const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: production,
  sourcemap: production ? false : 'linked',
  logLevel: 'warning',
  absWorkingDir: root,
  // Native add-ons cannot be bundled; a backend that needs one loads it at run time or falls back.
  external: ['vscode', 'webgpu'],
};
const exists = (p) => fs.existsSync(path.join(root, p));
const builds = [
  esbuild.build({ ...node, entryPoints: ['extension/extension.ts'], outfile: 'dist/extension.js' }),
  esbuild.build({
    entryPoints: ['media/chat/main.ts'],
    outfile: 'media/dist/chat.js',
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: production,
    sourcemap: production ? false : 'linked',
    logLevel: 'warning',
    absWorkingDir: root,
  }),
];
if (exists('server/main.ts')) {
  builds.push(esbuild.build({ ...node, entryPoints: ['server/main.ts'], outfile: 'dist/server.js' }));
} else {
  console.warn('bundle: server/main.ts is not here yet; the .vsix will have no server');
}
if (exists('engine/cli/main.ts')) {
  builds.push(
    esbuild.build({
      ...node,
      stdin: { contents: "require('./engine/cli/main').main(process.argv.slice(2));", resolveDir: root, loader: 'js' },
      outfile: 'dist/engine.js',
    }),
  );
}
await Promise.all(builds);

fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
const wasm = [path.join(root, 'node_modules/web-tree-sitter/tree-sitter.wasm')];
const grammars = path.join(root, 'node_modules/@vscode/tree-sitter-wasm/wasm');
for (const name of fs.readdirSync(grammars)) if (/^tree-sitter-.*\.wasm$/.test(name)) wasm.push(path.join(grammars, name));
for (const file of wasm) fs.copyFileSync(file, path.join(root, 'dist', path.basename(file)));
