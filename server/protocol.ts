// The custom LSP protocol between the extension and the server (both sides import this file).
// Inline completion uses the standard LSP 3.18 `textDocument/inlineCompletion`; what LSP has no method for
// lives under `latent/`.

import type { Diagnostic, Range } from 'vscode-languageserver-protocol';

/** Engine settings, sent as `initializationOptions.engine` and in `workspace/didChangeConfiguration`. */
export type EngineSettings =
  | {
      url: string;
      apiKey?: string;
      model?: string;
      /** How FIM is sent: 'suffix' (default; the server renders the FIM tokens) or 'prompt' (tokens in the prompt). */
      fim?: 'suffix' | 'prompt';
    }
  | { model: string; backend?: string; reusePolicy?: string };

export interface LatentSettings {
  engine: EngineSettings;
  maxTokens?: number;
  debounceMs?: number;
  /** Token budget of an inline completion prompt (context + prefix + suffix); default 2048. */
  maxPromptTokens?: number;
  /** Most tokens of one chat answer or refactor; default 1024. */
  chatMaxTokens?: number;
  /** Language ids for which inline completion is disabled. */
  disabledLanguages?: string[];
}

// ---- chat ----

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatContext {
  /** The selection the user asked about, with the document it came from. */
  selection?: { uri: string; range: Range; text: string };
  /** The document in the active editor. */
  currentFile?: { uri: string };
  /** Files the user named with @. */
  files?: { uri: string }[];
}

export const ChatRequestMethod = 'latent/chat';
export interface ChatParams {
  /** Chosen by the client; every `latent/chatDelta` of this answer carries it. */
  chatId: string;
  messages: ChatMessage[];
  context?: ChatContext;
}
export interface ChatResult {
  text: string;
  finishReason: 'stop' | 'length' | 'cancelled';
}

/** Server -> client notification: the next piece of a streamed chat answer or refactor. */
export const ChatDeltaNotification = 'latent/chatDelta';
export interface ChatDeltaParams {
  chatId: string;
  delta: string;
}

// ---- refactors ----

export type RefactorKind = 'explain' | 'fix' | 'document' | 'tests' | 'edit';

export const RefactorRequestMethod = 'latent/refactor';
export interface RefactorParams {
  /** Streamed pieces arrive as `latent/chatDelta` with this id. */
  chatId: string;
  kind: RefactorKind;
  uri: string;
  range: Range;
  /** The user's instruction for `edit`. */
  instruction?: string;
  /** For `fix`: the diagnostics to fix (from the code action's context); else those last seen for the range. */
  diagnostics?: Diagnostic[];
}
export interface RefactorResult {
  kind: RefactorKind;
  uri: string;
  /** The range the new text replaces (for `tests`: an empty range where the tests are inserted, or a new file). */
  range: Range;
  /** Proposed replacement text for `range` (for `explain`: the explanation, in markdown). */
  newText: string;
  /** For `tests`: where the tests should go when not into `uri`. */
  targetUri?: string;
}

// ---- editor views ----

/**
 * Client -> server notification: the ranges of a document now visible in an editor. The server keeps the
 * recently viewed ranges as prompt context. Optional: without it, completion positions count as views.
 */
export const DidViewNotification = 'latent/didView';
export interface DidViewParams {
  uri: string;
  ranges: Range[];
}

// ---- status ----

export const StatusNotification = 'latent/status';
export interface StatusParams {
  engine: 'starting' | 'loading' | 'ready' | 'restarting' | 'error' | 'stopped';
  message?: string;
  /** Milliseconds of the last inline completion, request to answer. */
  lastLatencyMs?: number;
  /** Milliseconds of the last inline completion from the request arriving to the engine request leaving. */
  lastPrepareMs?: number;
  /** Tokens of the last inline-completion prompt, as the engine counted them. */
  lastPromptTokens?: number;
  /** Share of the last prompt served from the engine's latent cache (0..1). */
  cachedShare?: number;
  tokensPerSecond?: number;
  /** Loading progress 0..1 while a model loads. */
  progress?: number;
}
