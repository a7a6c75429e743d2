// Starting `latent serve`: its bearer key comes from LATENT_API_KEY, else a key it generates into a 0600 file in
// the user's cache directory and names at start; a key file other users can read is refused; a bad command line
// or a taken port is one clear line and exit code 2.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { call, LATENT_BIN, makeModelFolder, makeTempDir, ServeProcess, startServe, startServeWith } from './serveFixture';

/** Runs `latent serve` expecting it to fail; resolves with its exit code and stderr. */
function failingServe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LATENT_BIN, 'serve', ...args], { timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? (error as { code?: number }).code ?? null : 0, stderr });
    });
  });
}

describe('latent serve: start-up and API key', function () {
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

  it('answers a bad command line with one clear line and exit code 2', async () => {
    const unknown = await failingServe(['--model', model, '--bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^latent: serve: Unknown option '--bogus'/);
    const badPort = await failingServe(['--model', model, '--port', '70000']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--port must be an integer from 0 to 65535/);
  });

  it('says clearly when its key file is missing or its port is taken', async () => {
    serve = await startServe(model);
    const port = new URL(serve.url).port;
    const missingKey = await failingServe(['--model', model, '--api-key-file', path.join(root, 'no-such-key')]);
    assert.equal(missingKey.code, 2);
    assert.match(missingKey.stderr, /cannot read the API key file .*no-such-key \(ENOENT\)/);
    const keyFile = path.join(root, 'key');
    fs.writeFileSync(keyFile, 'another-key-0123456789abcdef', { mode: 0o600 });
    const taken = await failingServe(['--model', model, '--port', port, '--api-key-file', keyFile]);
    assert.equal(taken.code, 2);
    assert.match(taken.stderr, /is in use/);
  });
});
