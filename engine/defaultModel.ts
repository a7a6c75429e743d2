// The embedded default model: the project's own small DeepSeek-V2 code model (training/, models/README.md),
// used whenever no --model is given, so a fresh install completes code with no download.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DEFAULT_MODEL_NAME = 'latent-coder-tiny';

/** models/latent-coder-tiny under the package root: two levels above out/engine/ in a build, one above dist/
 * in the .vsix's bundles. */
export function defaultModelDir(): string {
  const candidates = [path.resolve(__dirname, '..', '..'), path.resolve(__dirname, '..')]
    .map((root) => path.join(root, 'models', DEFAULT_MODEL_NAME));
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'config.json'))) ?? candidates[0];
}
