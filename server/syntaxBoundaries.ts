// Where a prompt window may start and end: at lines that begin a whole statement or declaration (a node that
// sits directly in a program, block or body) of a block that holds the cursor, so the model never sees half a
// construct at either edge: no dangling `}` of an earlier function at the start, no unclosed `{` at the end.
import type { Node, Tree } from 'web-tree-sitter';

/** How many lines the search for a boundary looks at before falling back to a plain line boundary. */
const MAX_LINES_SEARCHED = 400;
const CONTAINER = /(^|_)(program|module|source_file|translation_unit|block|body|statement_list|declaration_list|suite|list)$/;

/** The smallest offset >= minStart that begins a line holding a statement start (0 when minStart <= 0). */
export function prefixCut(text: string, tree: Tree | undefined, minStart: number, cursor: number): number {
  if (minStart <= 0) return 0;
  const firstLine = lineStartAtOrAfter(text, minStart);
  if (!tree) return firstLine;
  let lineStart = firstLine;
  for (let i = 0; i < MAX_LINES_SEARCHED && lineStart < text.length; i++) {
    if (lineStart > cursor) break;
    if (startsStatement(text, tree, lineStart, cursor)) return lineStart;
    lineStart = lineStartAtOrAfter(text, lineStart + 1);
  }
  return firstLine;
}

/**
 * The largest offset <= maxEnd (and > cursor) that begins a line holding a statement start; the suffix ends
 * there. maxEnd itself when no line boundary lies between the cursor and maxEnd.
 */
export function suffixCut(text: string, tree: Tree | undefined, maxEnd: number, cursor: number): number {
  if (maxEnd >= text.length) return text.length;
  const lastLine = lineStartAtOrBefore(text, maxEnd);
  if (lastLine <= cursor) return maxEnd;
  if (!tree) return lastLine;
  let lineStart = lastLine;
  for (let i = 0; i < MAX_LINES_SEARCHED && lineStart > cursor; i++) {
    if (startsStatement(text, tree, lineStart, cursor)) return lineStart;
    lineStart = lineStartAtOrBefore(text, lineStart - 1);
  }
  return lastLine;
}

/**
 * True when the first non-blank character of the line at lineStart begins a statement-level node whose block
 * also holds the cursor.
 */
export function startsStatement(text: string, tree: Tree, lineStart: number, cursor: number): boolean {
  let i = lineStart;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  if (i >= text.length || text[i] === '\n' || text[i] === '\r') return false;
  let node: Node | null = tree.rootNode.descendantForIndex(i);
  if (!node) return false;
  // The largest node starting here, short of a block (Python's block starts at its first statement).
  while (node.parent && node.parent.startIndex === i && node.parent.parent && !CONTAINER.test(node.parent.type)) node = node.parent;
  if (node.startIndex !== i || !node.isNamed || node.type === 'ERROR') return false;
  const parent = node.parent;
  if (parent === null || (parent.parent !== null && !CONTAINER.test(parent.type))) return false;
  return parent.startIndex <= cursor && cursor <= parent.endIndex;
}

function lineStartAtOrAfter(text: string, offset: number): number {
  if (offset === 0 || text[offset - 1] === '\n') return offset;
  const nl = text.indexOf('\n', offset);
  return nl < 0 ? text.length : nl + 1;
}

function lineStartAtOrBefore(text: string, offset: number): number {
  if (offset <= 0) return 0;
  return text.lastIndexOf('\n', offset - 1) + 1;
}
