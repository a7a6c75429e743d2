// Entry point of the language server: `node out/server/main.js --stdio` (or `latent lsp --stdio`) talks LSP over
// stdin/stdout; started by the extension over node IPC it talks over the IPC channel.
import {
  createConnection, IPCMessageReader, IPCMessageWriter, ProposedFeatures, StreamMessageReader, StreamMessageWriter,
} from 'vscode-languageserver/node';
import { CheckedMessageReader } from './checkedMessageReader';
import { LatentLanguageServer } from './languageServer';

export type Transport = 'stdio' | 'ipc';

/** Starts the server on `transport` and serves until the client exits it. */
export function runLanguageServer(transport: Transport): LatentLanguageServer {
  const exitOnFramingError = (error: Error): void => {
    process.stderr.write(`latent lsp: the message stream is broken (${error.message}); exiting so the client restarts the server\n`);
    process.exit(2);
  };
  const [reader, writer] = transport === 'stdio'
    ? [new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout)]
    : [new IPCMessageReader(process), new IPCMessageWriter(process)];
  const connection = createConnection(ProposedFeatures.all, new CheckedMessageReader(reader, exitOnFramingError), writer);
  // A bug in one request must not take the editor's server down with it.
  process.on('uncaughtException', (e) => connection.console.error(`uncaught: ${e.stack ?? e}`));
  process.on('unhandledRejection', (e) => connection.console.error(`unhandled rejection: ${(e as Error)?.stack ?? e}`));
  const server = new LatentLanguageServer(connection);
  connection.listen();
  return server;
}

/** `latent lsp [--stdio | --node-ipc]`: the CLI's entry (returns at once; the connection keeps the process up). */
export async function lspCommand(args: string[]): Promise<void> {
  runLanguageServer(args.includes('--stdio') || !process.send ? 'stdio' : 'ipc');
}

if (require.main === module) void lspCommand(process.argv.slice(2));
