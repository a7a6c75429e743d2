// Why a request to the engine failed, in words a user can act on.

export type EngineErrorKind = 'unavailable' | 'http' | 'cancelled' | 'bad-response' | 'stopped';

export class EngineError extends Error {
  constructor(readonly kind: EngineErrorKind, message: string, readonly status?: number) {
    super(message);
    this.name = 'EngineError';
  }
}

export function isCancellation(error: unknown): boolean {
  return error instanceof EngineError ? error.kind === 'cancelled' : (error as Error)?.name === 'AbortError';
}
