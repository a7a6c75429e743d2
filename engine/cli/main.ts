// The `latent` command line: one entry per command. `latent COMMAND --help` prints all of a command's options;
// any failure is one line on stderr and exit code 2.
import { COMMAND_USAGE, overallUsage } from './commandHelp';
import { exportGgufCommand } from './exportGguf';
import { generateCommand } from './generate';
import { infoCommand } from './info';
import { initRandomCommand } from './initRandom';
import { logitsCommand } from './logits';
import { serveCommand } from '../serve';
import { UsageError } from './usage';

type Command = (args: string[]) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  logits: logitsCommand,
  generate: generateCommand,
  'init-random': initRandomCommand,
  'export-gguf': exportGgufCommand,
  info: infoCommand,
  // Loaded on demand: the language server's libraries are not needed by any other command.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  lsp: (args) => (require('../../server/main') as typeof import('../../server/main')).lspCommand(args),
  serve: serveCommand,
};

const HELP = ['--help', '-h'];

export async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (name === undefined || HELP.includes(name) || name === 'help') {
    process.stdout.write(overallUsage() + '\n');
    return;
  }
  try {
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`unknown command "${name}"\n${overallUsage()}`);
    if (args.some((a) => HELP.includes(a))) {
      process.stdout.write(COMMAND_USAGE[name] + '\n');
      return;
    }
    await command(args);
  } catch (e) {
    const err = e as Error;
    const message = err instanceof UsageError ? err.message : `${err.message ?? String(e)}`;
    process.stderr.write(`latent: ${message.split('\n')[0]}\n`);
    if (process.env.LATENT_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 2;
  }
}
