// Bridges LSP cancellation tokens to AbortSignals, which undici and our waits understand.
import type { CancellationToken } from 'vscode-languageserver';

export function abortSignalOf(token: CancellationToken | undefined): AbortSignal {
  const controller = new AbortController();
  if (!token) return controller.signal;
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}
