// The workspace's source files: labels for prompts, and a background scan that indexes their definitions so
// that a symbol used near the cursor can be shown with its definition from another file.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parserFor } from './grammars';
import { isParsedLanguage, languageIdOfPath } from './languages';
import type { DefinitionIndex } from './definitionIndex';

const SKIPPED_DIRS = new Set(['node_modules', '.git', 'out', 'dist', 'build', 'target', 'vendor', '.venv', 'venv', '__pycache__', '.next']);
const MAX_FILES = 2000;
const MAX_FILE_BYTES = 512 * 1024;

/** A file's path relative to the workspace root that holds it (the URI itself when it is outside all roots). */
export function workspaceLabel(uri: string, roots: string[]): string {
  let filePath: string;
  try {
    filePath = fileURLToPath(uri);
  } catch {
    return uri;
  }
  for (const root of roots) {
    const rel = path.relative(root, filePath);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) return rel.split(path.sep).join('/');
  }
  return filePath;
}

/**
 * Indexes definitions in the roots' source files, a file at a time, yielding between files so that requests
 * are never held up. Files open in the editor are skipped: the document store indexes their live text.
 */
export async function indexWorkspace(roots: string[], index: DefinitionIndex, isOpen: (uri: string) => boolean,
  log: (message: string) => void, stopped: () => boolean): Promise<number> {
  let indexed = 0;
  for await (const file of sourceFiles(roots)) {
    if (stopped() || indexed >= MAX_FILES) break;
    const uri = pathToFileURL(file).toString();
    if (isOpen(uri)) continue;
    try {
      const stat = await fs.stat(file);
      if (stat.size > MAX_FILE_BYTES) continue;
      const text = await fs.readFile(file, 'utf8');
      if (text.includes('\u0000')) continue;
      const parser = await parserFor(languageIdOfPath(file), log);
      const tree = parser?.parse(text);
      if (!tree) continue;
      if (!isOpen(uri)) index.index(uri, workspaceLabel(uri, roots), tree);
      tree.delete();
      indexed++;
    } catch (e) {
      log(`indexing ${file} failed: ${(e as Error).message}`);
    }
    await new Promise((r) => setImmediate(r));
  }
  return indexed;
}

async function* sourceFiles(roots: string[]): AsyncGenerator<string> {
  const queue = [...roots];
  while (queue.length) {
    const dir = queue.shift()!;
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith('.')) queue.push(full);
      } else if (entry.isFile() && isParsedLanguage(languageIdOfPath(full))) {
        yield full;
      }
    }
  }
}
