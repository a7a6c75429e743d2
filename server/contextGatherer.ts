// Collects the extra context for a completion at a cursor: recently edited ranges, recently viewed ranges and
// definitions of the symbols used near the cursor. The prompt builder orders and budgets them.
import type { ContextSnippet, SnippetKind } from './contextSnippet';
import { identifiersNear } from './definitionIndex';
import type { DocumentStore } from './documentStore';
import type { LineRange } from './recentRanges';
import { workspaceLabel } from './workspaceFiles';

/** Lines above and below the cursor whose identifiers are looked up. */
const IDENTIFIER_RADIUS = 12;
const MAX_DEFINITIONS = 12;
const MAX_RANGE_LINES = 30;

export function gatherSnippets(store: DocumentStore, uri: string, cursorLine: number): ContextSnippet[] {
  const snippets: ContextSnippet[] = [];
  const fromRanges = (kind: SnippetKind, ranges: readonly LineRange[]) => {
    for (const r of ranges) {
      const endLine = Math.min(r.endLine, r.startLine + MAX_RANGE_LINES - 1);
      const text = store.lines(r.uri, r.startLine, endLine);
      if (text.trim() === '') continue;
      snippets.push({ kind, uri: r.uri, label: workspaceLabel(r.uri, store.workspaceRoots), startLine: r.startLine, endLine, text });
    }
  };
  fromRanges('edited', store.recentEdits.list());
  fromRanges('viewed', store.recentViews.list());

  const tree = store.get(uri)?.currentTree;
  if (tree) {
    const names = identifiersNear(tree, cursorLine, IDENTIFIER_RADIUS);
    const definitions = store.definitions.definitionsOf(names)
      // The definition the cursor is inside is the code being written, not context.
      .filter((d) => d.uri !== uri || cursorLine < d.startLine || cursorLine > d.endLine)
      .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : a.startLine - b.startLine))
      .slice(0, MAX_DEFINITIONS);
    snippets.push(...definitions);
  }
  return snippets;
}
