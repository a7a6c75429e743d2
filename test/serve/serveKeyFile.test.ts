// Every key file obeys one rule set, whichever option named it: readable by its owner alone (a link is judged by
// the file it points to), one line (a trailing newline is fine), a key of at least 16 characters.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, LATENT_BIN, makeModelFolder, makeTempDir, startServeWith } from './serveFixture';

const KEY = 'key-file-rules-0123456789abcdef';

/** Runs `latent serve` expecting it to refuse to start; resolves with its exit code and stderr. */
function refusedServe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LATENT_BIN, 'serve', ...args], { timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? (error as { code?: number }).code ?? null : 0, stderr });
    });
  });
}

describe('latent serve: API key file rules', function () {
  this.timeout(180_000);
  let root: string;
  let model: string;

  before(async () => {
    root = makeTempDir('latent-serve-keyfile-');
    model = await makeModelFolder(root, false);
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  function keyFile(name: string, text: string, mode: number): string {
    const file = path.join(root, name);
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    return file;
  }

  for (const mode of [0o644, 0o640, 0o666, 0o604]) {
    it(`refuses --api-key-file at mode ${mode.toString(8)}, naming the file and the mode`, async () => {
      const file = keyFile(`key-${mode.toString(8)}`, KEY, mode);
      const refused = await refusedServe(['--model', model, '--port', '0', '--api-key-file', file]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`${path.basename(file)} is readable by other users.*mode 0${mode.toString(8)}`));
    });
  }

  it('refuses a link to a key file others can read, though the link itself looks private', async () => {
    const target = keyFile('shared-target', KEY, 0o644);
    const link = path.join(root, 'key-link');
    fs.symlinkSync(target, link);
    const refused = await refusedServe(['--model', model, '--port', '0', '--api-key-file', link]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /key-link is readable by other users/);
  });

  it('refuses a key file of two lines, saying so', async () => {
    const file = keyFile('two-lines', `${KEY}\nsecond-line-0123456789\n`, 0o600);
    const refused = await refusedServe(['--model', model, '--port', '0', '--api-key-file', file]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /two-lines holds more than one line/);
  });

  it('serves with a key file whose key ends with a newline, the key being the line without it', async () => {
    const file = keyFile('with-newline', `${KEY}\n`, 0o600);
    const serve = await startServeWith(model, ['--api-key-file', file], process.env, KEY);
    try {
      assert.equal((await call(serve, 'GET', '/v1/models')).status, 200);
    } finally {
      await serve.stop();
    }
  });
});
