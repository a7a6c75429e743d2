// Where `latent serve` takes its bearer key from: LATENT_API_KEY, else a key it generates into a 0600 file in the
// user's cache directory and names at start; a key file other users can read is refused.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, makeModelFolder, makeTempDir, ServeProcess, startServeWith } from './serveFixture';

describe('latent serve: API key', function () {
  this.timeout(180_000);
  let root: string;
  let model: string;
  let serve: ServeProcess | undefined;

  before(async () => {
    root = makeTempDir('latent-serve-key-');
    model = await makeModelFolder(root, false);
  });

  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  /** The environment of a user whose cache directory is `cache`, without LATENT_API_KEY. */
  function envWithCache(cache: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cache, ...extra };
    if (!('LATENT_API_KEY' in extra)) delete env.LATENT_API_KEY;
    return env;
  }

  it('generates a key into a 0600 file in the user cache directory, prints where, and requires it', async () => {
    const cache = fs.mkdtempSync(path.join(root, 'cache-'));
    serve = await startServeWith(model, [], envWithCache(cache));
    const keyFile = path.join(cache, 'latent-coder', 'api-key');
    assert.match(serve.output(), new RegExp(`API key from ${keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    serve.key = fs.readFileSync(keyFile, 'utf8').trim();
    assert.ok(serve.key.length >= 32);
    assert.equal((await call(serve, 'GET', '/v1/models')).status, 200);
    assert.equal((await call(serve, 'GET', '/v1/models', undefined, { Authorization: 'Bearer latent-guess' })).status, 401);

    // A second start reuses the same key.
    await serve.stop();
    serve = await startServeWith(model, [], envWithCache(cache));
    serve.key = fs.readFileSync(keyFile, 'utf8').trim();
    assert.equal((await call(serve, 'GET', '/v1/models')).status, 200);
  });

  it('takes the key from LATENT_API_KEY', async () => {
    const cache = fs.mkdtempSync(path.join(root, 'cache-'));
    const key = 'env-key-0123456789abcdef';
    serve = await startServeWith(model, [], envWithCache(cache, { LATENT_API_KEY: key }), key);
    assert.match(serve.output(), /API key from LATENT_API_KEY/);
    assert.equal((await call(serve, 'GET', '/health')).status, 200);
    assert.equal(fs.existsSync(path.join(cache, 'latent-coder', 'api-key')), false);
  });

  it('refuses to start with a key file other users can read', async () => {
    const cache = fs.mkdtempSync(path.join(root, 'cache-'));
    fs.mkdirSync(path.join(cache, 'latent-coder'));
    fs.writeFileSync(path.join(cache, 'latent-coder', 'api-key'), 'shared-key-0123456789abcdef', { mode: 0o644 });
    await assert.rejects(startServeWith(model, [], envWithCache(cache)), /readable by other users/);
  });
});
