// Where a forward's time goes on the fast CPU backend: every backend op and every threaded kernel call is timed
// (self time, so an op that calls others, such as routedExperts calling linear, is charged only for its own work),
// and what no op accounts for is the model's TypeScript between them. The ops run synchronously on the CPU
// backend, so wall time per call is the op's cost.
//
//   node --max-old-space-size=16384 out/test/bench/cpuOpProfile.js --gguf FILE [--decode 16] [--by-shape]
//
// Cases, as in vsLlamaCpp.ts: prefill of 512 tokens (one batch), decode right after it, prefill to 2,048 (batches
// of 512), decode at 2,048, and the changed-token edit's one forward (`--gap N` tokens at 1,900 and the last at
// 1,999). Prints a table per case (ms per forward, share); the last line is the JSON report.
import { Engine } from '../../engine/engine';
import type { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import type { KernelThreads, MatmulJob } from '../../engine/backend/cpu/kernelThreads';
import { kernelExport } from '../../engine/backend/cpu/controlBlock';
import { argmax } from '../../engine/generate/sampler';
import type { ContiguousLatentCache, LatentCache } from '../../engine/cache/latentCache';
import { deepseekTokenizer, greedyTokens, prefillInBatches, sourceText } from './benchModel';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const gguf = flag('gguf');
const DECODE = Number(flag('decode') ?? 16);
/** --gap N: the edit case's gap, the changed token and the k after it under reuse:k (17: reuse:16; 3: reuse:2). */
const GAP = Number(flag('gap') ?? 17);
/** --by-shape: kernel calls are told apart by their weight's shape too. */
const BY_SHAPE = args.includes('--by-shape');
if (!gguf) throw new Error('cpuOpProfile: --gguf FILE is required');

/** Self time per label; a label is the op, and a kernel call is named after the op that made it. */
class OpClock {
  readonly self = new Map<string, number>();
  readonly calls = new Map<string, number>();
  private readonly stack: { label: string; child: number }[] = [];

  wrap<T extends object>(target: T, method: string, label: (args: unknown[]) => string): void {
    const original = (target as Record<string, unknown>)[method] as (...a: unknown[]) => unknown;
    (target as Record<string, unknown>)[method] = (...a: unknown[]) => {
      const name = label(a);
      this.stack.push({ label: name, child: 0 });
      const t0 = performance.now();
      try {
        return original.apply(target, a);
      } finally {
        const total = performance.now() - t0;
        const frame = this.stack.pop()!;
        this.self.set(name, (this.self.get(name) ?? 0) + total - frame.child);
        this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
        if (this.stack.length > 0) this.stack[this.stack.length - 1].child += total;
      }
    };
  }

  /** The op a kernel call is made for: the innermost op on the stack. */
  caller(): string {
    return this.stack.length > 0 ? this.stack[this.stack.length - 1].label.split(' ')[0] : 'model';
  }

  reset(): void {
    this.self.clear();
    this.calls.clear();
  }
}

const OPS = ['embed', 'linear', 'linearPerHead', 'rmsNorm', 'applyRope', 'addInto', 'siluMul', 'sliceRows', 'sliceCols', 'concatRows',
  'writeLatents', 'attendLatent', 'attendHeads', 'gatherLatents', 'route', 'routedExperts', 'matmul', 'attendLatentRows', 'attendHeadRows'];

async function main(): Promise<void> {
  const engine = await Engine.load(gguf!, { backend: 'cpu' });
  const backend = engine.model.backend as CpuBackend;
  process.stderr.write(`${backend.name}: ${backend.info().device}\n`);
  const clock = new OpClock();
  for (const op of OPS) clock.wrap(backend, op, () => op);
  const pool = (backend as unknown as { fast: { pool: KernelThreads } }).fast.pool;
  clock.wrap(pool, 'runMatmul', (a) => {
    const job = a[0] as MatmulJob;
    return `${clock.caller()} > ${kernelExport(job.op)}${BY_SHAPE ? ` ${job.rows}x${job.cols}` : ''}`;
  });

  const tokenizer = deepseekTokenizer();
  const all = tokenizer.encode(sourceText());
  const bos = tokenizer.special.bos!;
  const prompt = (n: number) => [bos, ...all.slice(0, n - 1)];
  const report: Record<string, unknown> = {};
  const measure = async (name: string, forwards: number, run: () => Promise<void>) => {
    clock.reset();
    const t0 = performance.now();
    await run();
    const total = performance.now() - t0;
    const accounted = [...clock.self.values()].reduce((a, b) => a + b, 0);
    const rows = [...clock.self.entries(), ['model glue (TypeScript between ops)', total - accounted] as [string, number]]
      .sort((a, b) => b[1] - a[1]);
    process.stderr.write(`\n${name}: ${(total / forwards).toFixed(1)} ms per forward (${forwards} forwards)\n`);
    for (const [label, ms] of rows) {
      if (ms / total < 0.002) continue;
      process.stderr.write(`  ${(ms / forwards).toFixed(2).padStart(9)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${label} (${((clock.calls.get(label) ?? 0) / forwards).toFixed(0)}/fwd)\n`);
    }
    report[name] = { ms_per_forward: total / forwards, ops: Object.fromEntries(rows.map(([l, ms]) => [l, ms / forwards])) };
  };
  const decode = async (p: { cache: LatentCache; logits: Float32Array }) => {
    await greedyTokens(engine, p.cache, argmax(p.logits), DECODE);
  };

  // Warm-up: every kernel and code path once.
  await decode(await prefillInBatches(engine, prompt(512)));
  let prefilled: { cache: LatentCache; logits: Float32Array } = { cache: engine.newCache(), logits: new Float32Array(0) };
  await measure('prefill 512', 1, async () => {
    prefilled = await prefillInBatches(engine, prompt(512));
  });
  await measure('decode @512', DECODE, () => decode(prefilled));
  await measure('prefill 2048 (4 batches of 512)', 4, async () => {
    prefilled = await prefillInBatches(engine, prompt(2048));
  });
  await measure('decode @2048', DECODE, () => decode(prefilled));
  // The changed-token edit as vsLlamaCpp.ts runs it: one forward over the gap the reuse policy recomputes (the
  // changed token 100 from the end of 2,000 and the k after it, into its slots) and the prompt's last token.
  const edit = (await prefillInBatches(engine, prompt(2000))).cache as ContiguousLatentCache;
  const gap = all.slice(1899, 1899 + GAP);
  await measure(`edit: ${GAP} gap tokens @1900 + the last @1999`, DECODE, async () => {
    for (let k = 0; k < DECODE; k++) {
      edit.truncate(1999);
      await engine.model.forward([{ cache: edit, tokens: gap, at: 1900, logits: 'none' }, { cache: edit, tokens: [all[1998]], logits: 'last' }]);
    }
  });
  engine.dispose();
  process.stdout.write(JSON.stringify({ bench: 'cpu-op-profile', gguf, backend: backend.info().device, per_case: report }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`cpuOpProfile: ${(e as Error).stack}\n`);
  process.exitCode = 1;
});
