// Bundles what the .vsix ships, with esbuild: the extension (dist/extension.js), the LSP server (dist/server.js),
// the engine CLI (dist/engine.js, the `latent` launcher the server starts `latent serve` with), the chat webview
// script (media/dist/chat.js), the tree-sitter WASM files the server parses with, the native CPU kernels
// (out/native/latent_kernels.node, where the build made them) beside the engine, which loads them from there, and
// Dawn (npm `webgpu`, this platform's binary), so that the bundled engine's auto backend can take a GPU.
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
  // ESM dependencies (web-tree-sitter) find their files from import.meta.url, which a CommonJS bundle lacks.
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: "const __importMetaUrl = require('url').pathToFileURL(__filename).href;" },
  // The grammar packages' package.json are found at run time (require.resolve), copied below.
  external: ['vscode', 'webgpu', '@vscode/tree-sitter-wasm/package.json', 'tree-sitter-c/package.json'],
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
    // Worker threads load their scripts from beside the module that starts them (dist/ in the bundle).
    esbuild.build({ ...node, entryPoints: ['engine/backend/cpu/kernelWorker.ts'], outfile: 'dist/kernelWorker.js' }),
    esbuild.build({ ...node, entryPoints: ['engine/serve/tokenizerWorker.ts'], outfile: 'dist/tokenizerWorker.js' }),
    // The auto backend probes the adapter in a child process from <engine>/webgpu/gpuDevice.js (autoBackend.ts).
    esbuild.build({ ...node, entryPoints: ['engine/backend/webgpu/gpuDevice.ts'], outfile: 'dist/webgpu/gpuDevice.js' }),
  );
}
await Promise.all(builds);

// The server finds its grammars with require.resolve('<package>/package.json'); from dist/server.js that looks in
// dist/node_modules, so the grammar packages' package.json and .wasm files (data, no code) are copied there.
// web-tree-sitter's own runtime (tree-sitter.wasm) is looked for beside the bundle.
const copy = (from, to) => {
  fs.mkdirSync(path.dirname(path.join(root, to)), { recursive: true });
  fs.copyFileSync(path.join(root, from), path.join(root, to));
};
fs.rmSync(path.join(root, 'dist', 'node_modules'), { recursive: true, force: true });
copy('node_modules/web-tree-sitter/tree-sitter.wasm', 'dist/tree-sitter.wasm');
const grammarPackages = [
  ['@vscode/tree-sitter-wasm', 'wasm'],
  ['tree-sitter-c', '.'],
];
for (const [name, wasmDir] of grammarPackages) {
  const from = path.join('node_modules', name);
  if (!exists(path.join(from, 'package.json'))) continue;
  copy(path.join(from, 'package.json'), path.join('dist', from, 'package.json'));
  for (const file of fs.readdirSync(path.join(root, from, wasmDir))) {
    if (file.endsWith('.wasm')) copy(path.join(from, wasmDir, file), path.join('dist', from, wasmDir, file));
  }
}

// The native kernels are one platform's binary (linux-x64 here): shipped when built, and the .vsix is then
// packaged for that target (extension/packageVsix.mjs); without them the engine runs its WASM kernels.
const nativeKernels = 'out/native/latent_kernels.node';
fs.rmSync(path.join(root, 'dist', 'latent_kernels.node'), { force: true });
if (exists(nativeKernels)) copy(nativeKernels, 'dist/latent_kernels.node');

// Dawn: the engine loads it with import('webgpu'), which from dist/ resolves dist/node_modules/webgpu. Its ESM entry
// picks dist/<platform>-<arch>/dawn.node, so only this platform's binary is copied (macOS builds are universal).
const dawnPlatform = process.platform === 'darwin' ? 'darwin-universal' : `${process.platform}-${process.arch}`;
const dawn = path.join('node_modules', 'webgpu');
if (exists(path.join(dawn, 'dist', dawnPlatform, 'dawn.node'))) {
  for (const file of ['package.json', 'index.js', 'LICENSE.md', path.join('dist', dawnPlatform, 'dawn.node')]) copy(path.join(dawn, file), path.join('dist', dawn, file));
}
