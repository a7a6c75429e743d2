// Loads a model folder for a command, reporting progress on stderr when the weights are large.
import { BACKENDS, BackendName, Engine } from '../engine';
import { WEIGHT_QUANTISATIONS, WeightQuantisation } from '../weights/loadQuantisation';
import { UsageError } from './usage';

const SHOW_PROGRESS_ABOVE_BYTES = 256 * 1024 * 1024;

export function parseBackend(command: string, text: string | undefined): BackendName {
  const name = text ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(name)) throw new UsageError(`${command}: --backend must be one of ${BACKENDS.join(', ')} (got "${name}")`);
  return name as BackendName;
}

/** `--weights`: quantise the linear weights as they load; absent, keep them as stored. */
export function parseWeights(command: string, text: string | undefined): WeightQuantisation | undefined {
  if (text === undefined) return undefined;
  if (!(WEIGHT_QUANTISATIONS as readonly string[]).includes(text)) throw new UsageError(`${command}: --weights must be one of ${WEIGHT_QUANTISATIONS.join(', ')} (got "${text}")`);
  return text as WeightQuantisation;
}

export function loadEngine(dir: string, backend: BackendName, weights?: WeightQuantisation): Promise<Engine> {
  let lastShown = -1;
  return Engine.load(dir, {
    backend,
    weights,
    onNote: (line) => process.stderr.write(`${line}\n`),
    onProgress: ({ loadedBytes, totalBytes }) => {
      if (totalBytes < SHOW_PROGRESS_ABOVE_BYTES) return;
      const pct = Math.floor((loadedBytes / totalBytes) * 20) * 5;
      if (pct === lastShown) return;
      lastShown = pct;
      process.stderr.write(`loading ${dir}: ${pct}% of ${(totalBytes / 2 ** 30).toFixed(1)} GiB\n`);
    },
  });
}
