// The `latent` command line: one entry per command. Any failure is one line on stderr and exit code 2.
import { generateCommand } from './generate';
import { initRandomCommand } from './initRandom';
import { logitsCommand } from './logits';
import { serveCommand } from '../serve';
import { UsageError } from './usage';

type Command = (args: string[]) => Promise<void>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  logits: { run: logitsCommand, summary: 'logits --model DIR --tokens 0,5,7 [--positions all|last|N]' },
  generate: { run: generateCommand, summary: 'generate --model DIR (--tokens 0,5,7 | --prompt TEXT) --max-tokens N [--temperature T] [--top-p P] [--top-k K] [--seed S] [--stop TEXT]' },
  'init-random': { run: initRandomCommand, summary: 'init-random --config FILE --out DIR [--seed S] [--dtype f32|f16|bf16] [--tokenizer DIR] [--shard-size 2GB]' },
  // Loaded on demand: the language server's libraries are not needed by any other command.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  lsp: { run: (args) => (require('../../server/main') as typeof import('../../server/main')).lspCommand(args), summary: 'lsp [--stdio] (language server; node IPC when started by the extension)' },
  serve: { run: serveCommand, summary: 'serve --model DIR [--host 127.0.0.1] [--port 5283] [--api-key-file FILE] [--reuse-policy exact|reuse:K] (OpenAI-compatible HTTP)' },
};

function usage(): string {
  return ['usage: latent <command> [options]   (all commands accept --backend cpu)', ...Object.values(COMMANDS).map((c) => `  latent ${c.summary}`)].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return;
  }
  try {
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`unknown command "${name}"\n${usage()}`);
    await command.run(args);
  } catch (e) {
    const err = e as Error;
    const message = err instanceof UsageError ? err.message : `${err.message ?? String(e)}`;
    process.stderr.write(`latent: ${message.split('\n')[0]}\n`);
    if (process.env.LATENT_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 2;
  }
}
