// The fill-in-the-middle prompt: extra context (in a stable order), then the prefix before the cursor and the
// suffix after it, all within a token budget, with the window cut at statement boundaries.
// DeepSeek-Coder-V2 is trained PSM only: <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>. A model whose engine
// says `infill_prompt: prefix` (its FIM answers measured worse than its plain continuations) gets the context and
// the prefix alone, the whole window going to the prefix.
import type { Tree } from 'web-tree-sitter';
import { compareSnippets, renderSnippet, type ContextSnippet } from './contextSnippet';
import { prefixCut, suffixCut } from './syntaxBoundaries';
import { estimateTokens } from './tokenEstimate';

export const FIM_BEGIN = '<｜fim▁begin｜>';
export const FIM_HOLE = '<｜fim▁hole｜>';
export const FIM_END = '<｜fim▁end｜>';

/** How the engine's model wants an infill laid out: PSM with the FIM markers, or the text before the cursor alone. */
export type InfillPrompt = 'fim' | 'prefix';

/** Counts tokens of prompt text: the engine's exact counts (tokenCounter.ts), or the estimate. */
export type CountTokens = (text: string) => number;

export interface PromptBudget {
  /** Tokens of the whole prompt as the engine counts it: the markers (bos, FIM), context, prefix, suffix. */
  maxPromptTokens: number;
  /** Tokens the engine adds around the text: bos, and the three FIM markers in the 'fim' layout. */
  markerTokens?: number;
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
  /** Token counts for the budget; the estimate when not given. */
  countTokens?: CountTokens;
  /** 'fim' when not given. */
  infill?: InfillPrompt;
}

export interface FimPrompt {
  infill: InfillPrompt;
  /** The rendered extra context (may be ''). */
  context: string;
  prefix: string;
  /** '' in the 'prefix' layout. */
  suffix: string;
  /** Offsets of the window in the document. */
  prefixStart: number;
  suffixEnd: number;
  snippets: ContextSnippet[];
}

export function buildFimPrompt(input: PromptInput): FimPrompt {
  const { text, offset, tree, budget } = input;
  const count = input.countTokens ?? estimateTokens;
  const total = Math.max(1, Math.floor(budget.maxPromptTokens) - (budget.markerTokens ?? 0));
  const infill = input.infill ?? 'fim';
  const suffixShare = infill === 'prefix' ? 0 : budget.suffixShare;

  // Snippets from this document that the widest possible window already shows add nothing.
  const widest = windowFor(text, offset, tree, total, suffixShare, count);
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
    const cost = count(piece);
    if (contextTokens + cost > contextBudget) continue;
    contextTokens += cost;
    used.push(snippet);
    rendered.push(piece);
  }

  const window = used.length ? windowFor(text, offset, tree, total - contextTokens, suffixShare, count) : widest;
  const suffixEnd = infill === 'prefix' ? offset : window.suffixEnd;
  return {
    infill,
    context: rendered.join(''),
    prefix: text.slice(window.prefixStart, offset),
    suffix: text.slice(offset, suffixEnd),
    prefixStart: window.prefixStart,
    suffixEnd,
    snippets: used,
  };
}

/** The prompt as one string with DeepSeek's FIM tokens, for servers that take no `suffix` field. */
export function renderFimPrompt(prompt: FimPrompt): string {
  if (prompt.infill === 'prefix') return prompt.context + prompt.prefix;
  return `${FIM_BEGIN}${prompt.context}${prompt.prefix}${FIM_HOLE}${prompt.suffix}${FIM_END}`;
}

/**
 * The widest window of at most `tokens` tokens: the suffix takes up to its share, the prefix the rest, and the
 * suffix what the prefix cannot use; each edge then moves inward to a statement boundary (fewer tokens).
 */
function windowFor(text: string, offset: number, tree: Tree | undefined, tokens: number, suffixShare: number, count: CountTokens) {
  const budget = Math.max(0, tokens);
  const suffixFirst = furthestEnd(text, offset, Math.floor(budget * suffixShare), count);
  const prefix = furthestStart(text, offset, budget - suffixFirst.tokens, count);
  const suffix = furthestEnd(text, offset, budget - prefix.tokens, count);
  const prefixStart = prefixCut(text, tree, prefix.at, offset);
  const suffixEnd = suffixCut(text, tree, suffix.at, offset);
  return { prefixStart: Math.min(prefixStart, offset), suffixEnd: Math.max(suffixEnd, offset) };
}

/**
 * The earliest line start from which the text up to the cursor holds at most `budget` tokens (the cursor when
 * even the cursor's own line does not fit), and its count.
 */
function furthestStart(text: string, offset: number, budget: number, count: CountTokens): { at: number; tokens: number } {
  let at = offset;
  let tokens = 0;
  let lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  for (;;) {
    // The piece from this line's start up to what is already in (the cursor, or the line after).
    const cost = count(text.slice(lineStart, at));
    if (tokens + cost > budget) return { at, tokens };
    tokens += cost;
    at = lineStart;
    if (at === 0) return { at, tokens };
    lineStart = text.lastIndexOf('\n', at - 2) + 1;
  }
}

/**
 * The furthest end (a line start, or the end of the text) up to which the text after the cursor holds at most
 * `budget` tokens, and its count.
 */
function furthestEnd(text: string, offset: number, budget: number, count: CountTokens): { at: number; tokens: number } {
  let at = offset;
  let tokens = 0;
  while (at < text.length) {
    const newline = text.indexOf('\n', at);
    const next = newline < 0 ? text.length : newline + 1;
    const cost = count(text.slice(at, next));
    if (tokens + cost > budget) break;
    tokens += cost;
    at = next;
  }
  return { at, tokens };
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
