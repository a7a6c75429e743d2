// `--backend auto` (the default): the fastest backend present. A hardware WebGPU adapter wins; a software one
// (Mesa's lavapipe, SwiftShader) does not: measured on 2 cores its tiled GEMM ran at 2.4 GFLOP/s against the WASM
// CPU backend's 36 (docs/PERFORMANCE.md), so auto keeps the CPU there. Without an adapter, or when Dawn does not
// load, the CPU backend. The adapter is probed in a child process, so that neither a driver's chatter on stderr
// (lavapipe warns about its limits) nor a driver that crashes reaches a process that ends up on the CPU.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { Backend } from './backend';
import { CpuBackend } from './cpu/cpuBackend';
import type { AdapterSummary } from './webgpu/gpuDevice';
import { WebGpuBackend } from './webgpu/webGpuBackend';

export interface AutoChoice {
  backend: 'cpu' | 'webgpu';
  /** Why, for the load log. */
  reason: string;
}

export type AdapterProbe = { summary: AdapterSummary } | { summary: null; reason: string };

let probed: Promise<AdapterProbe> | undefined;

/** The WebGPU adapter of this machine, as a child process found it (once per process). */
export function probeAdapter(): Promise<AdapterProbe> {
  const device = path.join(__dirname, 'webgpu', 'gpuDevice.js');
  const script = `require(${JSON.stringify(device)}).findAdapter().then((a) => { process.stdout.write(JSON.stringify(a.adapter ? { summary: a.summary } : { summary: null, reason: a.reason })); process.exit(0); }, (e) => { process.stdout.write(JSON.stringify({ summary: null, reason: String(e && e.message) })); process.exit(0); });`;
  probed ??= new Promise((resolve) => {
    execFile(process.execPath, ['-e', script], { timeout: 30_000, encoding: 'utf8' }, (err, stdout) => {
      try {
        resolve(JSON.parse(stdout) as AdapterProbe);
      } catch {
        resolve({ summary: null, reason: `the WebGPU probe failed: ${err?.message ?? 'no answer'}` });
      }
    });
  });
  return probed;
}

export async function chooseAutoBackend(): Promise<AutoChoice> {
  const probe = await probeAdapter();
  if (!probe.summary) return { backend: 'cpu', reason: probe.reason };
  const s = probe.summary;
  if (s.software) return { backend: 'cpu', reason: `the WebGPU adapter (${s.description || s.architecture || s.vendor}) is a software one, slower than the CPU backend` };
  return { backend: 'webgpu', reason: `WebGPU adapter ${s.vendor} ${s.architecture} ${s.description}`.trim() };
}

/** The backend `auto` stands for on this machine. */
export async function createAutoBackend(): Promise<Backend> {
  const choice = await chooseAutoBackend();
  return choice.backend === 'webgpu' ? WebGpuBackend.create() : CpuBackend.create();
}
