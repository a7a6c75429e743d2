// The open documents: text kept in step with the client through incremental sync, a tree-sitter tree for each,
// the ranges the user edits, and each document's definitions indexed (after a pause in typing, off the
// keystroke path).
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { DidChangeTextDocumentParams, DidOpenTextDocumentParams, Range } from 'vscode-languageserver';
import { DocumentSyntax } from './documentSyntax';
import { parserFor } from './grammars';
import { RecentRanges } from './recentRanges';
import { DefinitionIndex } from './definitionIndex';
import { workspaceLabel } from './workspaceFiles';

const INDEX_DELAY_MS = 400;

export class DocumentStore {
  private readonly docs = new Map<string, DocumentSyntax>();
  readonly recentEdits = new RecentRanges(8, 3);
  readonly recentViews = new RecentRanges(8, 0);
  readonly definitions = new DefinitionIndex();
  private readonly indexTimers = new Map<string, NodeJS.Timeout>();
  private readonly editListeners: ((uri: string) => void)[] = [];
  workspaceRoots: string[] = [];

  constructor(private readonly log: (message: string) => void) {}

  get(uri: string): DocumentSyntax | undefined { return this.docs.get(uri); }
  get count(): number { return this.docs.size; }

  onEdit(listener: (uri: string) => void): void { this.editListeners.push(listener); }

  /** Resolves once the document's grammar is loaded and its first tree built (tests and benches wait on it). */
  async open(params: DidOpenTextDocumentParams): Promise<void> {
    const { uri, languageId, version, text } = params.textDocument;
    this.docs.get(uri)?.dispose();
    const syntax = new DocumentSyntax(TextDocument.create(uri, languageId, version, text));
    this.docs.set(uri, syntax);
    const parser = await parserFor(languageId, this.log);
    if (this.docs.get(uri) !== syntax) return;
    syntax.attachParser(parser);
    this.scheduleIndex(uri, 0);
  }

  change(params: DidChangeTextDocumentParams): void {
    const uri = params.textDocument.uri;
    const syntax = this.docs.get(uri);
    if (!syntax) {
      this.log(`didChange for ${uri}, which is not open: ignored`);
      return;
    }
    const changes = params.contentChanges.map((change) => {
      if (typeof change?.text !== 'string') return undefined;
      if (!('range' in change) || !change.range || isWellFormedRange(change.range)) return change;
      this.log(`didChange for ${uri} has a malformed range ${JSON.stringify(change.range)}: clamped to the document`);
      return { text: change.text, range: { start: clampPosition(change.range.start), end: clampPosition(change.range.end) } };
    }).filter((c) => c !== undefined);
    const before = syntax.doc.lineCount;
    const touched = syntax.applyChanges(changes, params.textDocument.version);
    const delta = syntax.doc.lineCount - before;
    for (const t of touched) {
      const startLine = syntax.doc.positionAt(t.start).line;
      this.recentEdits.shift(uri, startLine + 1, delta);
      this.recentViews.shift(uri, startLine + 1, delta);
      this.recentEdits.record(uri, startLine, syntax.doc.positionAt(t.end).line);
    }
    this.scheduleIndex(uri, INDEX_DELAY_MS);
    for (const listener of this.editListeners) listener(uri);
  }

  close(uri: string): void {
    this.docs.get(uri)?.dispose();
    this.docs.delete(uri);
    clearTimeout(this.indexTimers.get(uri));
    this.indexTimers.delete(uri);
  }

  /** The text of lines [startLine, endLine] of an open document ('' when it is not open). */
  lines(uri: string, startLine: number, endLine: number): string {
    const doc = this.docs.get(uri)?.doc;
    if (!doc) return '';
    return doc.getText({ start: { line: startLine, character: 0 }, end: { line: endLine + 1, character: 0 } });
  }

  dispose(): void {
    for (const timer of this.indexTimers.values()) clearTimeout(timer);
    for (const syntax of this.docs.values()) syntax.dispose();
    this.docs.clear();
  }

  private scheduleIndex(uri: string, delay: number): void {
    clearTimeout(this.indexTimers.get(uri));
    const timer = setTimeout(() => {
      this.indexTimers.delete(uri);
      const tree = this.docs.get(uri)?.currentTree;
      if (tree) this.definitions.index(uri, workspaceLabel(uri, this.workspaceRoots), tree);
    }, delay);
    timer.unref?.();
    this.indexTimers.set(uri, timer);
  }
}

function clampPosition(position: { line?: unknown; character?: unknown } | undefined) {
  const clamp = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);
  return { line: clamp(position?.line), character: clamp(position?.character) };
}

function isWellFormedRange(range: Range): boolean {
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
  const { start, end } = range;
  return ok(start?.line) && ok(start?.character) && ok(end?.line) && ok(end?.character)
    && (start.line < end.line || (start.line === end.line && start.character <= end.character));
}
