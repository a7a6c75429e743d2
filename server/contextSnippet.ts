// A piece of extra context placed before the FIM prompt, and the fixed order in which such pieces appear.
// The order never depends on recency: the same pieces give the same preamble, so the engine's cache keeps hitting.

export type SnippetKind = 'edited' | 'viewed' | 'definition';

/** Groups in prompt order: edits elsewhere change least while the user types at one spot, definitions most. */
export const SNIPPET_KIND_ORDER: SnippetKind[] = ['edited', 'viewed', 'definition'];

export interface ContextSnippet {
  kind: SnippetKind;
  uri: string;
  /** How the snippet is labelled in the prompt (a workspace-relative path). */
  label: string;
  /** Zero-based first and last line of the snippet in its document. */
  startLine: number;
  endLine: number;
  text: string;
}

export function compareSnippets(a: ContextSnippet, b: ContextSnippet): number {
  return SNIPPET_KIND_ORDER.indexOf(a.kind) - SNIPPET_KIND_ORDER.indexOf(b.kind)
    || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0)
    || a.startLine - b.startLine
    || a.endLine - b.endLine;
}

/** The snippet as it appears in the prompt: a comment naming where it comes from, then its text. */
export function renderSnippet(snippet: ContextSnippet, lineComment: string): string {
  const body = snippet.text.endsWith('\n') ? snippet.text : snippet.text + '\n';
  return `${lineComment} ${snippet.label}:${snippet.startLine + 1}\n${body}`;
}
