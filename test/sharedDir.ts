// Where the read-only shared data (fixtures, tokenizers, recipes) lives: beside the repository, as in CI.
import * as path from 'node:path';

export const SHARED_DIR = process.env.LATENT_SHARED_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared');
export const FIXTURES_DIR = path.join(SHARED_DIR, 'fixtures');
export const TOKENIZERS_DIR = path.join(SHARED_DIR, 'tokenizers');
