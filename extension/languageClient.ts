// Starts the LSP server (server/main) as a node process over IPC, as in lsp-sample. One twist: the client's own
// inline-completion feature is swapped for a static one that only announces the capability, because
// inlineCompletions.ts registers the provider itself at activation (see DESIGN.md, "A lesson from the real
// VS Code"); two providers would ask the server twice per keystroke.

import * as fs from 'node:fs';
import * as vscode from 'vscode';
import {
  LanguageClient,
  RevealOutputChannelOn,
  TransportKind,
  type DynamicFeature,
  type LanguageClientOptions,
  type ServerOptions,
  type StaticFeature,
} from 'vscode-languageclient/node';
import type { LatentSettings } from '../server/protocol';

/** Documents the server serves: files and unsaved buffers, every language (the user's switches gate completions). */
export const DOCUMENT_SELECTOR: { scheme: string }[] = [{ scheme: 'file' }, { scheme: 'untitled' }];

export function createLanguageClient(
  context: vscode.ExtensionContext,
  settings: LatentSettings,
  outputChannel: vscode.LogOutputChannel,
): LanguageClient {
  const module = serverModule(context);
  // In the .vsix the `latent` launcher the server starts `latent serve` with is the bundled dist/engine.js
  // (server/localEngine.ts reads LATENT_BIN); a development checkout uses bin/latent.js, the server's default.
  const bundledEngine = context.asAbsolutePath('dist/engine.js');
  const env = { ...process.env, ...(fs.existsSync(bundledEngine) && !process.env.LATENT_BIN ? { LATENT_BIN: bundledEngine } : {}) };
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc, options: { env } },
    debug: { module, transport: TransportKind.ipc, options: { env, execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENT_SELECTOR,
    initializationOptions: settings,
    outputChannel,
    // The server reports engine trouble through latent/status; a crash loop should not stack up popups.
    revealOutputChannelOn: RevealOutputChannelOn.Never,
  };
  return new ForwardingLanguageClient('latent', 'Latent Coder', serverOptions, clientOptions);
}

/** The server entry: the esbuild bundle in a packaged extension, the tsc output in a development checkout. */
export function serverModule(context: vscode.ExtensionContext): string {
  const candidates = ['dist/server.js', 'out/server/main.js'].map((p) => context.asAbsolutePath(p));
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`the LSP server is missing from the extension (looked for ${candidates.join(', ')})`);
  return found;
}

class ForwardingLanguageClient extends LanguageClient {
  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    const method = (feature as Partial<DynamicFeature<unknown>>).registrationType?.method;
    super.registerFeature(method === 'textDocument/inlineCompletion' ? inlineCompletionCapability : feature);
  }
}

/** Tells the server the client does inline completion (statically), without registering a second provider. */
const inlineCompletionCapability: StaticFeature = {
  fillClientCapabilities(capabilities) {
    capabilities.textDocument ??= {};
    capabilities.textDocument.inlineCompletion = { dynamicRegistration: false };
  },
  initialize() {},
  getState: () => ({ kind: 'static' }),
  clear() {},
};
