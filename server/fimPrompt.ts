// The fill-in-the-middle prompt: extra context (in a stable order), then the prefix before the cursor and the
// suffix after it, all within a token budget, with the window cut at statement boundaries.
// DeepSeek-Coder-V2 is trained PSM only: <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>.
import type { Tree } from 'web-tree-sitter';
import { compareSnippets, renderSnippet, type ContextSnippet } from './contextSnippet';
import { prefixCut, suffixCut } from './syntaxBoundaries';

export const FIM_BEGIN = '<｜fim▁begin｜>';
export const FIM_HOLE = '<｜fim▁hole｜>';
export const FIM_END = '<｜fim▁end｜>';

/** Token estimate used for budgets: code averages a little over 3 characters per DeepSeek token. */
export const CHARS_PER_TOKEN = 3;
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

export interface PromptBudget {
  /** Tokens for context + prefix + suffix together. */
  maxPromptTokens: number;
  /** Most of the budget extra context may take; what it leaves unused goes to the prefix. */
  contextShare: number;
  /** Share of the window (budget minus context) the suffix may take; what it leaves goes to the prefix. */
  suffixShare: number;
}

export const DEFAULT_BUDGET: PromptBudget = { maxPromptTokens: 2048, contextShare: 0.25, suffixShare: 0.25 };

export interface PromptInput {
  uri: string;
  text: string;
  /** Cursor offset (UTF-16 code units). */
  offset: number;
  tree?: Tree;
  lineComment: string;
  snippets: ContextSnippet[];
  budget: PromptBudget;
  /** Line of an offset; the document's own index when given (scanning the text is O(length)). */
  lineAt?: (offset: number) => number;
}

export interface FimPrompt {
  /** The rendered extra context (may be ''). */
  context: string;
  prefix: string;
  suffix: string;
  /** Offsets of the window in the document. */
  prefixStart: number;
  suffixEnd: number;
  snippets: ContextSnippet[];
}

export function buildFimPrompt(input: PromptInput): FimPrompt {
  const { text, offset, tree, budget } = input;
  const total = Math.max(1, Math.floor(budget.maxPromptTokens));

  // Snippets from this document that the widest possible window already shows add nothing.
  const widest = windowFor(text, offset, tree, total, budget.suffixShare);
  const lineAt = input.lineAt ?? ((o: number) => lineOf(text, o));
  const firstLine = lineAt(widest.prefixStart);
  const lastLine = lineAt(widest.suffixEnd);
  const candidates = dedupe(input.snippets
    .filter((s) => s.text.trim() !== '')
    .filter((s) => s.uri !== input.uri || s.startLine > lastLine || s.endLine < firstLine)
    .sort(compareSnippets));

  const contextBudget = Math.floor(total * budget.contextShare);
  let contextTokens = 0;
  const used: ContextSnippet[] = [];
  const rendered: string[] = [];
  for (const snippet of candidates) {
    const piece = renderSnippet(snippet, input.lineComment);
    const cost = estimateTokens(piece);
    if (contextTokens + cost > contextBudget) continue;
    contextTokens += cost;
    used.push(snippet);
    rendered.push(piece);
  }

  const window = used.length ? windowFor(text, offset, tree, total - contextTokens, budget.suffixShare) : widest;
  return {
    context: rendered.join(''),
    prefix: text.slice(window.prefixStart, offset),
    suffix: text.slice(offset, window.suffixEnd),
    prefixStart: window.prefixStart,
    suffixEnd: window.suffixEnd,
    snippets: used,
  };
}

/** The prompt as one string with DeepSeek's FIM tokens, for servers that take no `suffix` field. */
export function renderFimPrompt(prompt: FimPrompt): string {
  return `${FIM_BEGIN}${prompt.context}${prompt.prefix}${FIM_HOLE}${prompt.suffix}${FIM_END}`;
}

function windowFor(text: string, offset: number, tree: Tree | undefined, tokens: number, suffixShare: number) {
  const windowChars = Math.max(0, tokens) * CHARS_PER_TOKEN;
  const suffixAvailable = text.length - offset;
  const prefixAvailable = offset;
  // Each side gets its share; what one side cannot use goes to the other.
  let suffixChars = Math.min(suffixAvailable, Math.floor(windowChars * suffixShare));
  const prefixChars = Math.min(prefixAvailable, windowChars - suffixChars);
  suffixChars = Math.min(suffixAvailable, windowChars - prefixChars);
  const prefixStart = prefixCut(text, tree, offset - prefixChars, offset);
  const suffixEnd = suffixCut(text, tree, offset + suffixChars, offset);
  return { prefixStart: Math.min(prefixStart, offset), suffixEnd: Math.max(suffixEnd, offset) };
}

function lineOf(text: string, offset: number): number {
  let line = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function dedupe(snippets: ContextSnippet[]): ContextSnippet[] {
  const seen = new Set<string>();
  return snippets.filter((s) => {
    const key = `${s.uri}\n${s.startLine}\n${s.endLine}`;
    const textKey = `text:${s.text}`;
    if (seen.has(key) || seen.has(textKey)) return false;
    seen.add(key);
    seen.add(textKey);
    return true;
  });
}
