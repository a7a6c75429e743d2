// Where a prompt window may start and end: at lines that begin a whole statement or declaration (a node that
// sits directly in a program, block or body), so the model never sees half a construct at either edge.
import type { Node, Tree } from 'web-tree-sitter';

/** How many lines the search for a boundary looks at before falling back to a plain line boundary. */
const MAX_LINES_SEARCHED = 400;
const CONTAINER = /(^|_)(program|module|source_file|translation_unit|block|body|statement_list|declaration_list|suite|list)$/;

/** The smallest offset >= minStart that begins a line holding a statement start (minStart itself if 0). */
export function prefixCut(text: string, tree: Tree | undefined, minStart: number): number {
  if (minStart <= 0) return 0;
  const firstLine = lineStartAtOrAfter(text, minStart);
  if (!tree) return firstLine;
  let lineStart = firstLine;
  for (let i = 0; i < MAX_LINES_SEARCHED && lineStart < text.length; i++) {
    if (startsStatement(text, tree, lineStart)) return lineStart;
    lineStart = lineStartAtOrAfter(text, lineStart + 1);
  }
  return firstLine;
}

/** The largest offset <= maxEnd (and > floor) that ends a line before a line holding a statement start. */
export function suffixCut(text: string, tree: Tree | undefined, maxEnd: number, floor: number): number {
  if (maxEnd >= text.length) return text.length;
  const lastLine = lineStartAtOrBefore(text, maxEnd);
  if (lastLine <= floor) return maxEnd;
  if (!tree) return lastLine;
  let lineStart = lastLine;
  for (let i = 0; i < MAX_LINES_SEARCHED && lineStart > floor; i++) {
    if (startsStatement(text, tree, lineStart)) return lineStart;
    lineStart = lineStartAtOrBefore(text, lineStart - 1);
  }
  return lastLine;
}

/** True when the first non-blank character of the line at lineStart begins a statement-level node. */
export function startsStatement(text: string, tree: Tree, lineStart: number): boolean {
  let i = lineStart;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  if (i >= text.length || text[i] === '\n' || text[i] === '\r') return false;
  let node: Node | null = tree.rootNode.descendantForIndex(i);
  if (!node) return false;
  while (node.parent && node.parent.startIndex === i && node.parent.parent) node = node.parent;
  if (node.startIndex !== i || !node.isNamed || node.type === 'ERROR') return false;
  const parent = node.parent;
  return parent !== null && (parent.parent === null || CONTAINER.test(parent.type));
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
