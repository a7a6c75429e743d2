// llama.cpp through node-llama-cpp (pinned 3.22.1, its prebuilt CPU binary; never built, never downloaded), as the
// peer our engine is checked and measured against on the very same GGUF file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as NodeLlamaCpp from 'node-llama-cpp' with { 'resolution-mode': 'import' };

export interface LlamaCppPeer {
  model: NodeLlamaCpp.LlamaModel;
  context: NodeLlamaCpp.LlamaContext;
  sequence: NodeLlamaCpp.LlamaContextSequence;
  /** llama.cpp's release tag and the package's version. */
  versions: { nodeLlamaCpp: string; llamaCpp: string; buildType: string };
  /** Greedy tokens after `prompt` (from an empty sequence). */
  greedy(prompt: number[], count: number): Promise<number[]>;
  /** Log lines llama.cpp printed (warnings and errors). */
  logs: string[];
  dispose(): Promise<void>;
}

export async function openLlamaCpp(file: string, options: { threads: number; contextSize: number; batchSize?: number }): Promise<LlamaCppPeer> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const logs: string[] = [];
  const llama = await getLlama({
    gpu: false, build: 'never', maxThreads: options.threads, logLevel: LlamaLogLevel.warn,
    logger: (level, message) => logs.push(`[${level}] ${message.trim()}`),
  });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 }).catch((e: Error) => {
    throw new Error(`llama.cpp cannot load ${file}: ${e.message} (${logs.filter((l) => l.startsWith('[error]')).join('; ')})`);
  });
  const context = await model.createContext({
    contextSize: options.contextSize, batchSize: options.batchSize ?? 512,
    threads: { ideal: options.threads, min: options.threads }, ignoreMemorySafetyChecks: true,
  });
  const sequence = context.getSequence();
  // The package exports no package.json; it lies in the repository's node_modules (out/test/peer/ -> the root).
  const manifest = path.resolve(__dirname, '..', '..', '..', 'node_modules', 'node-llama-cpp', 'package.json');
  const nodeLlamaCpp = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
  return {
    model, context, sequence, logs,
    versions: { nodeLlamaCpp, llamaCpp: llama.llamaCppRelease.release, buildType: llama.buildType },
    async greedy(prompt, count) {
      await sequence.clearHistory();
      const out: number[] = [];
      if (count === 0) return out;
      for await (const t of sequence.evaluate(prompt as NodeLlamaCpp.Token[], { temperature: 0, yieldEogToken: true })) {
        out.push(t);
        if (out.length >= count) break;
      }
      return out;
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
