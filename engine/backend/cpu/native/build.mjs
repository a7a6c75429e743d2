// Builds the native kernel module, out/native/latent_kernels.node, with gcc directly (node-gyp would download
// headers; Node's own headers are enough for plain N-API). Linux x86-64 only for now: elsewhere, or without a
// compiler or the headers, it prints one line and the engine runs its WASM kernels. Skips the work when the
// module is newer than every source. Usage: node engine/backend/cpu/native/build.mjs
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');
const outDir = path.join(root, 'out', 'native');
const target = path.join(outDir, 'latent_kernels.node');
const skip = (why) => {
  console.log(`native kernels: not built (${why}); the CPU backend will use its WASM kernels`);
  process.exit(0);
};

if (process.platform !== 'linux' || process.arch !== 'x64') skip(`no build for ${process.platform}-${process.arch} yet`);
const headers = [path.resolve(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node']
  .find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
if (!headers) skip("Node's headers (node_api.h) are not installed");
const cc = process.env.CC || 'gcc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) skip(`no C compiler (${cc})`);

// Each source with the instruction sets it may use; addon.c stays baseline x86-64 and picks a set at run time.
const units = [
  ['addon.c', []],
  ['matmul_avx512.c', ['-mavx512f', '-mavx2', '-mfma', '-mf16c']],
  ['matmul_avx2.c', ['-mavx2', '-mfma', '-mf16c']],
  // Bit-identical to the WASM kernels' f32 steps: no contraction into FMA.
  ['quant_dot_avx512.c', ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni', '-mavx2', '-mf16c', '-ffp-contract=off']],
  ['quant_dot_avx2.c', ['-mavx2', '-mf16c', '-ffp-contract=off']],
  ['quantise_avx512.c', ['-mavx512f', '-mavx512bw', '-mavx2', '-mfma', '-mf16c', '-ffp-contract=off']],
  ['quantise_avx2.c', ['-mavx2', '-mfma', '-mf16c', '-ffp-contract=off']],
  ['ops_addon.c', []],
  ['ops_avx512.c', ['-mavx512f', '-mavx2', '-mfma']],
  ['ops_avx2.c', ['-mavx2', '-mfma']],
];
const sources = fs.readdirSync(here).filter((f) => /\.(c|h)$/.test(f) || f === 'build.mjs').map((f) => path.join(here, f));
const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
if (fs.existsSync(target) && fs.statSync(target).mtimeMs >= newest) process.exit(0);

fs.mkdirSync(outDir, { recursive: true });
const common = ['-O3', '-std=c11', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wextra', '-Werror', `-I${headers}`];
const objects = [];
for (const [file, flags] of units) {
  const object = path.join(outDir, file.replace(/\.c$/, '.o'));
  const r = spawnSync(cc, [...common, ...flags, '-c', path.join(here, file), '-o', object], { stdio: 'inherit' });
  if (r.status !== 0) skip(`${cc} failed on ${file}`);
  objects.push(object);
}
// Written beside and renamed, so that a process that has the old module open keeps a whole file.
const partial = `${target}.partial`;
if (spawnSync(cc, ['-shared', '-o', partial, ...objects], { stdio: 'inherit' }).status !== 0) skip(`${cc} failed to link`);
fs.renameSync(partial, target);
console.log(`native kernels: built ${path.relative(root, target)} (avx512, avx2; integer dot on avx512 vnni and on avx2)`);
