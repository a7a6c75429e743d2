// Packages latent-coder.vsix with vsce. When the bundle carries the native CPU kernels (dist/latent_kernels.node,
// a Linux x86-64 binary) the .vsix is a platform one, for linux-x64, as vsce supports; without them it is universal
// and the engine runs its WASM kernels everywhere. Usage: node extension/packageVsix.mjs (after the bundle)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const native = fs.existsSync(path.join(root, 'dist', 'latent_kernels.node'));
const args = ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', ...(native ? ['--target', 'linux-x64'] : []), '--out', 'latent-coder.vsix'];
const vsce = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');
const r = spawnSync(vsce, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(r.status ?? 1);
