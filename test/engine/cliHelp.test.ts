// `latent COMMAND --help` for every command: exit 0, the command's usage on stdout, and every option the
// command's parser accepts described in it; `latent --help` lists every command.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { COMMAND_USAGE } from '../../engine/cli/commandHelp';
import { EXPORT_GGUF_OPTIONS } from '../../engine/cli/exportGguf';
import { GENERATE_OPTIONS } from '../../engine/cli/generate';
import { INFO_OPTIONS } from '../../engine/cli/info';
import { INIT_RANDOM_OPTIONS } from '../../engine/cli/initRandom';
import { LOGITS_OPTIONS } from '../../engine/cli/logits';
import { SERVE_OPTIONS } from '../../engine/serve';
import { LATENT } from './randomCheckpointHelpers';

const PARSED_OPTIONS: Record<string, readonly string[]> = {
  logits: Object.keys(LOGITS_OPTIONS),
  generate: Object.keys(GENERATE_OPTIONS),
  'init-random': Object.keys(INIT_RANDOM_OPTIONS),
  'export-gguf': Object.keys(EXPORT_GGUF_OPTIONS),
  info: Object.keys(INFO_OPTIONS),
  serve: Object.keys(SERVE_OPTIONS),
  lsp: ['stdio', 'node-ipc'],
};

function latent(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [LATENT, ...args], { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('latent COMMAND --help', function () {
  this.timeout(60_000);

  for (const [command, options] of Object.entries(PARSED_OPTIONS)) {
    it(`prints every option of ${command}`, async () => {
      for (const flag of ['--help', '-h']) {
        const r = latent([command, flag]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), COMMAND_USAGE[command]);
        assert.match(r.stdout, new RegExp(`^usage: latent ${command}\\b`));
      }
      for (const option of options) {
        assert.match(COMMAND_USAGE[command], new RegExp(`^  --${option} `, 'm'), `--${option} is not described in latent ${command} --help`);
      }
    });
  }

  it('names the backends and cache formats there are', async () => {
    assert.match(COMMAND_USAGE.serve, /cpu \| cpu-reference/);
    assert.match(COMMAND_USAGE.serve, /fp32 \| fp16 \| int8 \| int4/);
  });

  it('lists every command in latent --help', async () => {
    const r = latent(['--help']);
    assert.equal(r.status, 0);
    for (const command of Object.keys(PARSED_OPTIONS)) assert.match(r.stdout, new RegExp(`^  latent ${command}\\b`, 'm'));
  });
});
