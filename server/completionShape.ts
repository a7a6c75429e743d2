// Single line or several: decided from the syntax around the cursor. A multi-line completion is asked for
// where a body is about to be written (an empty line inside a block, or just after a line that opens one);
// anywhere else, and always when code follows the cursor on its line, one line.
import type { Node, Tree } from 'web-tree-sitter';

const OPENS_BODY = /(\{|=>|\bthen|\bdo)\s*$|^\s*(async\s+)?(def|class|if|elif|else|for|while|try|except|finally|with|match|case)\b.*:\s*$/;
const OPENS_LIST = /[([]\s*$/;
const BLOCK_TYPES = /(^|_)(block|body|statement_block|compound_statement|suite|declaration_list|field_declaration_list)$/;

export function wantsMultiline(text: string, offset: number, tree: Tree | undefined): boolean {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const nl = text.indexOf('\n', offset);
  const restOfLine = text.slice(offset, nl < 0 ? text.length : nl);
  // Only closing brackets may follow the cursor (`{|}` is about to hold a body).
  if (!/^[\s)\]};,]*$/.test(restOfLine)) return false;
  const before = text.slice(lineStart, offset);
  if (OPENS_BODY.test(before)) return true;
  if (before.trim() !== '') return false;
  // A blank line: multi-line when the line above opens a block, or the cursor sits in a block with no code yet.
  const above = previousNonBlankLine(text, lineStart);
  if (above !== undefined && (OPENS_BODY.test(above) || OPENS_LIST.test(above))) return true;
  if (!tree) return false;
  const block = enclosingBlock(tree, offset);
  return block !== undefined && block.namedChildren.filter((c) => c && c.type !== 'comment').length === 0;
}

function previousNonBlankLine(text: string, lineStart: number): string | undefined {
  let end = lineStart - 1;
  while (end > 0) {
    const start = text.lastIndexOf('\n', end - 1) + 1;
    const line = text.slice(start, end);
    if (line.trim() !== '') return line.replace(/\s*(\/\/.*|#.*)?$/, '');
    end = start - 1;
  }
  return undefined;
}

function enclosingBlock(tree: Tree, offset: number): Node | undefined {
  let node: Node | null = tree.rootNode.descendantForIndex(offset);
  while (node && !BLOCK_TYPES.test(node.type)) node = node.parent;
  return node ?? undefined;
}
