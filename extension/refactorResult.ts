// Checks a `latent/refactor` answer before it becomes an edit: the server relays model output, and an edit
// aimed at the wrong file or a malformed range must be refused with a clear message, not applied.

import type { RefactorKind, RefactorResult } from '../server/protocol';

const KINDS: RefactorKind[] = ['explain', 'fix', 'document', 'tests', 'edit'];

export function parseRefactorResult(
  raw: unknown,
  request: { kind: RefactorKind; uri: string },
): { ok: true; result: RefactorResult } | { ok: false; error: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: 'the answer is not an object' };
  const r = raw as Record<string, unknown>;
  if (typeof r.kind !== 'string' || !KINDS.includes(r.kind as RefactorKind) || r.kind !== request.kind) {
    return { ok: false, error: `the answer is for ${JSON.stringify(r.kind)}, not ${request.kind}` };
  }
  if (r.uri !== request.uri) return { ok: false, error: 'the answer names another file than the one asked about' };
  if (!isRange(r.range)) return { ok: false, error: 'the answer has no valid range' };
  if (typeof r.newText !== 'string') return { ok: false, error: 'the answer has no text' };
  let targetUri: string | undefined;
  if (r.targetUri !== undefined && r.targetUri !== null) {
    if (typeof r.targetUri !== 'string' || !sameScheme(r.targetUri, request.uri)) {
      return { ok: false, error: 'the answer\'s target file is not beside the file asked about' };
    }
    targetUri = r.targetUri;
  }
  return {
    ok: true,
    result: { kind: request.kind, uri: request.uri, range: r.range, newText: r.newText, ...(targetUri ? { targetUri } : {}) },
  };
}

function isRange(value: unknown): value is RefactorResult['range'] {
  if (typeof value !== 'object' || value === null) return false;
  const { start, end } = value as Record<string, unknown>;
  return isPosition(start) && isPosition(end) &&
    (start.line < end.line || (start.line === end.line && start.character <= end.character));
}

function isPosition(value: unknown): value is { line: number; character: number } {
  if (typeof value !== 'object' || value === null) return false;
  const { line, character } = value as Record<string, unknown>;
  return Number.isInteger(line) && Number.isInteger(character) && (line as number) >= 0 && (character as number) >= 0;
}

/** A test file goes beside the source: same scheme and authority (no jumping from file: to http:). */
function sameScheme(a: string, b: string): boolean {
  try {
    const ua = new URL(a);
    const ub = new URL(b);
    return ua.protocol === ub.protocol && ua.host === ub.host;
  } catch {
    return false;
  }
}
