// A document's text plus its tree-sitter tree, kept in step through incremental edits: each LSP content change
// is applied to the text and mirrored as a tree.edit, then the tree is re-parsed with the old tree so that
// tree-sitter only re-reads what changed. Indices and columns are UTF-16 code units on both sides.
import type { Parser, Tree, Edit } from 'web-tree-sitter';
import { performance } from 'node:perf_hooks';
import { TextDocument, type TextDocumentContentChangeEvent } from 'vscode-languageserver-textdocument';

/** Documents larger than this are kept as text only (no tree): parsing them on each keystroke costs too much. */
export const MAX_PARSED_LENGTH = 1_000_000;
/**
 * A parse that takes longer than this is abandoned, and the document is kept as text only from then on. A first
 * (full) parse may take longer: the grammar's WASM is still warming up then.
 */
export const FULL_PARSE_BUDGET_MS = 5000;
export const INCREMENTAL_PARSE_BUDGET_MS = 1000;

export class DocumentSyntax {
  private tree: Tree | undefined;
  private parser: Parser | undefined;
  /** True when the text holds NUL characters: a binary file opened as text, never parsed or completed. */
  binary: boolean;

  constructor(public doc: TextDocument) {
    this.binary = doc.getText().includes('\u0000');
  }

  get currentTree(): Tree | undefined { return this.tree; }

  /** Attaches the parser once its grammar has loaded, and parses the current text. */
  attachParser(parser: Parser | undefined): void {
    this.parser = parser;
    this.reparse();
  }

  /** Applies LSP content changes in order; returns the document ranges (offsets, after the change) they touched. */
  applyChanges(changes: TextDocumentContentChangeEvent[], version: number): { start: number; end: number }[] {
    const touched: { start: number; end: number }[] = [];
    for (const change of changes) {
      if (change.text.includes('\u0000')) this.binary = true;
      if (!('range' in change) || !change.range) {
        this.doc = TextDocument.update(this.doc, [change], version);
        this.dropTree();
        touched.push({ start: 0, end: this.doc.getText().length });
        continue;
      }
      const start = this.doc.offsetAt(change.range.start);
      const oldEnd = Math.max(start, this.doc.offsetAt(change.range.end));
      const startPosition = this.doc.positionAt(start);
      const oldEndPosition = this.doc.positionAt(oldEnd);
      this.doc = TextDocument.update(this.doc, [change], version);
      const newEnd = start + change.text.length;
      const newEndPosition = this.doc.positionAt(newEnd);
      touched.push({ start, end: newEnd });
      if (this.tree) {
        const edit: Edit = {
          startIndex: start, oldEndIndex: oldEnd, newEndIndex: newEnd,
          startPosition: { row: startPosition.line, column: startPosition.character },
          oldEndPosition: { row: oldEndPosition.line, column: oldEndPosition.character },
          newEndPosition: { row: newEndPosition.line, column: newEndPosition.character },
        };
        this.tree.edit(edit);
      }
    }
    this.reparse();
    return touched;
  }

  /** Parses the text again, reusing the (edited) old tree where there is one. */
  reparse(): void {
    if (!this.parser || this.binary) return;
    const text = this.doc.getText();
    if (text.length > MAX_PARSED_LENGTH) { this.dropTree(); return; }
    const started = performance.now();
    const budget = this.tree ? INCREMENTAL_PARSE_BUDGET_MS : FULL_PARSE_BUDGET_MS;
    const next = this.parser.parse(text, this.tree ?? null, {
      progressCallback: () => performance.now() - started > budget,
    });
    this.tree?.delete();
    this.tree = next ?? undefined;
    // Abandoned (too slow): no more parsing of this document, so every keystroke does not stall again.
    if (!next) this.parser = undefined;
  }

  dispose(): void { this.dropTree(); }

  private dropTree(): void {
    this.tree?.delete();
    this.tree = undefined;
  }
}
