// Test helper: a tree-sitter tree for a piece of source in a language, through the server's own grammar loader.
import type { Tree } from 'web-tree-sitter';
import { parserFor } from '../../server/grammars';

export async function parse(languageId: string, text: string): Promise<Tree> {
  const parser = await parserFor(languageId, (m) => { throw new Error(m); });
  if (!parser) throw new Error(`no grammar for ${languageId}`);
  const tree = parser.parse(text);
  if (!tree) throw new Error(`parse of ${languageId} text gave no tree`);
  return tree;
}
