// The text a chat or refactor request refers to (selection, current file, files the user named), gathered from
// open documents or, for files not open, from disk, each within a size limit. Files on disk are read off the
// server's thread, opened without blocking, and only when they are regular files: a FIFO, a device or a socket
// named with @file must not hang the language server (nor a thread of libuv's small pool).
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, ResponseError } from 'vscode-languageserver';
import type { DocumentStore } from './documentStore';
import type { ChatContext } from './protocol';
import { workspaceLabel } from './workspaceFiles';

const MAX_FILE_CHARS = 24_000;
const MAX_FILES = 8;

/** A markdown section holding the context, or '' when there is none. */
export async function renderChatContext(store: DocumentStore, context: ChatContext | undefined): Promise<string> {
  if (!context) return '';
  const parts: string[] = [];
  const label = (uri: string) => workspaceLabel(uri, store.workspaceRoots);
  const named = Array.isArray(context.files) ? context.files : [];
  const files = [...(context.currentFile ? [context.currentFile] : []), ...named].slice(0, MAX_FILES);
  const seen = new Set<string>();
  for (const file of files) {
    if (typeof file?.uri !== 'string' || seen.has(file.uri)) continue;
    seen.add(file.uri);
    const text = await fileText(store, file.uri);
    parts.push(`File ${label(file.uri)}:\n${fence(text)}`);
  }
  const selection = context.selection;
  if (selection && typeof selection.text === 'string') {
    parts.push(`Selected in ${label(String(selection.uri))} (line ${(selection.range?.start?.line ?? 0) + 1}):\n${fence(selection.text.slice(0, MAX_FILE_CHARS))}`);
  }
  return parts.join('\n\n');
}

/** Bytes read of a file not open: enough for MAX_FILE_CHARS characters of UTF-8. */
const MAX_FILE_BYTES = MAX_FILE_CHARS * 4 + 4;
/** Opening never waits for a writer (FIFO) or a device; harmless on regular files. Windows has no such flag. */
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** The text of a document: the open one's live text, else the file on disk; limited to MAX_FILE_CHARS. */
export async function fileText(store: DocumentStore, uri: string): Promise<string> {
  const open = store.get(uri);
  if (open) return clip(open.doc.getText());
  let path: string;
  try {
    path = fileURLToPath(uri);
  } catch {
    throw new ResponseError(ErrorCodes.InvalidParams, `${uri} is neither open nor a file: URI`);
  }
  let text: string;
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(path, OPEN_FLAGS);
    // Judged on the opened file, not on the path: it cannot be swapped for a FIFO in between.
    const stat = await handle.stat();
    if (!stat.isFile()) throw new ResponseError(ErrorCodes.InvalidParams, `${uri} is not a regular file`);
    // Read no more than is shown: a file the user names may be huge.
    const buffer = Buffer.alloc(Math.min(stat.size, MAX_FILE_BYTES));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    text = buffer.subarray(0, bytesRead).toString('utf8');
  } catch (e) {
    if (e instanceof ResponseError) throw e;
    throw new ResponseError(ErrorCodes.InvalidParams, `cannot read ${uri}: ${(e as Error).message}`);
  } finally {
    await handle?.close();
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
