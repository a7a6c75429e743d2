// Checks positions and ranges a client sends against the document they name, with errors that say what is wrong.
import { ErrorCodes, ResponseError, type Position, type Range } from 'vscode-languageserver';
import type { DocumentStore } from './documentStore';
import type { DocumentSyntax } from './documentSyntax';

export function openDocument(store: DocumentStore, uri: unknown): DocumentSyntax {
  if (typeof uri !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, 'textDocument.uri must be a string');
  const syntax = store.get(uri);
  if (!syntax) throw new ResponseError(ErrorCodes.InvalidParams, `document ${uri} is not open (send textDocument/didOpen first)`);
  return syntax;
}

/** The offset of a position that lies inside the document; an InvalidParams error otherwise. */
export function checkedOffset(syntax: DocumentSyntax, position: Position | undefined): number {
  const doc = syntax.doc;
  const where = `position ${JSON.stringify(position)} in ${doc.uri}`;
  if (!position || !Number.isInteger(position.line) || !Number.isInteger(position.character) || position.line < 0 || position.character < 0) {
    throw new ResponseError(ErrorCodes.InvalidParams, `${where} must have non-negative integer line and character`);
  }
  if (position.line >= doc.lineCount) {
    throw new ResponseError(ErrorCodes.InvalidParams, `${where} is past the end of the document (${doc.lineCount} lines)`);
  }
  const lineText = doc.getText({ start: { line: position.line, character: 0 }, end: { line: position.line + 1, character: 0 } })
    .replace(/\r?\n$/, '');
  if (position.character > lineText.length) {
    throw new ResponseError(ErrorCodes.InvalidParams, `${where} is past the end of line ${position.line} (${lineText.length} UTF-16 code units)`);
  }
  return doc.offsetAt(position);
}

export function checkedRange(syntax: DocumentSyntax, range: Range | undefined): { start: number; end: number } {
  if (!range) throw new ResponseError(ErrorCodes.InvalidParams, 'range is missing');
  const start = checkedOffset(syntax, range.start);
  const end = checkedOffset(syntax, range.end);
  if (end < start) throw new ResponseError(ErrorCodes.InvalidParams, `range ${JSON.stringify(range)} ends before it starts`);
  return { start, end };
}

/** Whether `range` has the shape of an LSP Range (non-negative integer lines and characters), whatever document. */
export function isRange(range: unknown): range is Range {
  const isPosition = (p: unknown): boolean => typeof p === 'object' && p !== null &&
    Number.isInteger((p as Position).line) && Number.isInteger((p as Position).character) &&
    (p as Position).line >= 0 && (p as Position).character >= 0;
  return typeof range === 'object' && range !== null && isPosition((range as Range).start) && isPosition((range as Range).end);
}
