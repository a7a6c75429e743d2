// Packages latent-coder.vsix with vsce. When the bundle carries native binaries (the CPU kernels,
// dist/latent_kernels.node, a Linux x86-64 build; Dawn's dawn.node for this platform) the .vsix is a platform one,
// for this machine's target, as vsce supports; without them it is universal and the engine runs its WASM kernels
// on the CPU everywhere. Usage: node extension/packageVsix.mjs (after the bundle)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const native = fs.existsSync(path.join(root, 'dist', 'latent_kernels.node')) || fs.existsSync(path.join(root, 'dist', 'node_modules', 'webgpu', 'index.js'));
const target = `${process.platform}-${process.arch}`;
const args = ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', ...(native ? ['--target', target] : []), '--out', 'latent-coder.vsix'];
const vsce = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');
const r = spawnSync(vsce, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(r.status ?? 1);
