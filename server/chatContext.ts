// The text a chat or refactor request refers to (selection, current file, files the user named), gathered from
// open documents or, for files not open, from disk, each within a size limit.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, ResponseError } from 'vscode-languageserver';
import type { DocumentStore } from './documentStore';
import type { ChatContext } from './protocol';
import { workspaceLabel } from './workspaceFiles';

const MAX_FILE_CHARS = 24_000;
const MAX_FILES = 8;

/** A markdown section holding the context, or '' when there is none. */
export function renderChatContext(store: DocumentStore, context: ChatContext | undefined): string {
  if (!context) return '';
  const parts: string[] = [];
  const label = (uri: string) => workspaceLabel(uri, store.workspaceRoots);
  const named = Array.isArray(context.files) ? context.files : [];
  const files = [...(context.currentFile ? [context.currentFile] : []), ...named].slice(0, MAX_FILES);
  const seen = new Set<string>();
  for (const file of files) {
    if (typeof file?.uri !== 'string' || seen.has(file.uri)) continue;
    seen.add(file.uri);
    const text = fileText(store, file.uri);
    parts.push(`File ${label(file.uri)}:\n${fence(text)}`);
  }
  const selection = context.selection;
  if (selection && typeof selection.text === 'string') {
    parts.push(`Selected in ${label(String(selection.uri))} (line ${(selection.range?.start?.line ?? 0) + 1}):\n${fence(selection.text.slice(0, MAX_FILE_CHARS))}`);
  }
  return parts.join('\n\n');
}

/** The text of a document: the open one's live text, else the file on disk; limited to MAX_FILE_CHARS. */
export function fileText(store: DocumentStore, uri: string): string {
  const open = store.get(uri);
  if (open) return clip(open.doc.getText());
  let path: string;
  try {
    path = fileURLToPath(uri);
  } catch {
    throw new ResponseError(ErrorCodes.InvalidParams, `${uri} is neither open nor a file: URI`);
  }
  let text: string;
  try {
    // Read no more than is shown: a file the user names may be huge.
    const fd = fs.openSync(path, 'r');
    try {
      const buffer = Buffer.alloc(Math.min(fs.fstatSync(fd).size, MAX_FILE_CHARS * 4 + 4));
      text = buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, 0)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new ResponseError(ErrorCodes.InvalidParams, `cannot read ${uri}: ${(e as Error).message}`);
  }
  if (text.includes('\u0000')) throw new ResponseError(ErrorCodes.InvalidParams, `${uri} is a binary file`);
  return clip(text);
}

function clip(text: string): string {
  return text.length <= MAX_FILE_CHARS ? text : `${text.slice(0, MAX_FILE_CHARS)}\n… (${text.length - MAX_FILE_CHARS} more characters)`;
}

/** A fenced code block that cannot be closed early by backticks inside the text. */
export function fence(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}\n${text}\n${ticks}`;
}
