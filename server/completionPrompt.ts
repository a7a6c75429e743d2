// The prompt stage of an inline completion: the text as the user sees it (a suggest item they selected counts as
// accepted), the token budget (the setting, within what the engine's context leaves beside the answer), and the
// FIM prompt fitted to it by the engine's own token counts (tokenCounter.ts).
import type { InlineCompletionParams, Position, Range } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { wantsMultiline } from './completionShape';
import { gatherSnippets } from './contextGatherer';
import type { DocumentStore } from './documentStore';
import type { DocumentSyntax } from './documentSyntax';
import { buildFimPrompt, DEFAULT_BUDGET, type FimPrompt, type InfillPrompt } from './fimPrompt';
import { languageInfo } from './languages';
import type { LatentSettings } from './protocol';
import type { TokenCounter } from './tokenCounter';

/** Most tokens an answer may take: the context must leave this much beside the prompt. */
export const MULTI_LINE_MAX_TOKENS = 128;
export const SINGLE_LINE_MAX_TOKENS = 48;
/** Characters around the cursor that post-processing and the completion cache look at. */
const NEAR_PREFIX_CHARS = 2000;
const NEAR_SUFFIX_CHARS = 1000;
/** Rounds of "fit, then tokenize the lines the fit needed and did not know": two on a cold file, one per keystroke. */
const MAX_FIT_ROUNDS = 6;

export interface SelectedCompletion { range: Range; text: string }

/** Where a completion is asked: the text it continues and the cursor in it. */
export interface CompletionSite {
  uri: string;
  /** The document's text, with a selected suggest item applied. */
  text: string;
  offset: number;
  /** The cursor in the document itself. */
  documentOffset: number;
  selected?: SelectedCompletion;
}

export interface PreparedCompletion {
  prompt: FimPrompt;
  /** The prompt's tokens as the engine counts them (exact when the engine counts, else estimated). */
  promptTokens: number;
  multiline: boolean;
  prefixNear: string;
  suffixNear: string;
}

export function selectedCompletion(params: InlineCompletionParams): SelectedCompletion | undefined {
  const info = params.context?.selectedCompletionInfo;
  const ok = (p: Position | undefined) => Number.isInteger(p?.line) && Number.isInteger(p?.character) && p!.line >= 0 && p!.character >= 0;
  if (!info || typeof info.text !== 'string' || !ok(info.range?.start) || !ok(info.range?.end)) return undefined;
  return { range: info.range, text: info.text };
}

/** The site at `documentOffset`, or, with a selected suggest item, as if that item were accepted. */
export function siteAt(uri: string, doc: TextDocument, documentOffset: number, selected: SelectedCompletion | undefined): CompletionSite {
  const text = doc.getText();
  if (!selected) return { uri, text, offset: documentOffset, documentOffset };
  const start = doc.offsetAt(selected.range.start);
  const end = Math.max(start, doc.offsetAt(selected.range.end));
  return { uri, text: text.slice(0, start) + selected.text + text.slice(end), offset: start + selected.text.length, documentOffset, selected };
}

/** The text just before and after the cursor: what the cache is keyed by and post-processing compares with. */
export function nearText(site: CompletionSite): { prefixNear: string; suffixNear: string } {
  return {
    prefixNear: site.text.slice(Math.max(0, site.offset - NEAR_PREFIX_CHARS), site.offset),
    suffixNear: site.text.slice(site.offset, site.offset + NEAR_SUFFIX_CHARS),
  };
}

/** Prompt tokens allowed: the setting, and never more than the engine's context leaves beside the answer. */
export function promptBudget(settings: LatentSettings | undefined, contextLength: number | undefined, exact: boolean): number {
  const wanted = settings?.maxPromptTokens ?? DEFAULT_BUDGET.maxPromptTokens;
  if (!contextLength) return wanted;
  const room = contextLength - MULTI_LINE_MAX_TOKENS;
  // Estimated counts can be a quarter short; exact ones need no margin.
  return Math.max(1, Math.min(wanted, exact ? room : Math.floor(room * 0.75)));
}

/** The prompt of `site` in the model's layout within `maxPromptTokens`, fitted by `counter` (tokenizing the lines it lacks). */
export async function fitPrompt(
  store: DocumentStore, syntax: DocumentSyntax, site: CompletionSite, maxPromptTokens: number, counter: TokenCounter,
  infill: InfillPrompt, signal?: AbortSignal,
): Promise<PreparedCompletion> {
  // The tree describes the document, not the document with the selected item in it.
  const tree = site.selected ? undefined : syntax.currentTree;
  const cursorLine = syntax.doc.positionAt(site.documentOffset).line;
  const snippets = gatherSnippets(store, site.uri, cursorLine);
  const count = (text: string) => counter.count(text);
  const markerTokens = infill === 'prefix' ? counter.plainMarkerTokens : counter.fimMarkerTokens;
  const build = () => buildFimPrompt({
    uri: site.uri, text: site.text, offset: site.offset, tree, snippets, countTokens: count,
    lineComment: languageInfo(syntax.doc.languageId).lineComment,
    lineAt: (o) => syntax.doc.positionAt(o).line,
    budget: { ...DEFAULT_BUDGET, maxPromptTokens, markerTokens }, infill,
  });
  let prompt = build();
  for (let round = 1; counter.missingLines > 0 && round < MAX_FIT_ROUNDS; round++) {
    await counter.fetchMissing(signal);
    prompt = build();
  }
  await counter.fetchMissing(signal);
  const promptTokens = markerTokens + count(prompt.context + prompt.prefix) + count(prompt.suffix);
  return {
    prompt, promptTokens,
    multiline: wantsMultiline(site.text, site.offset, tree),
    ...nearText(site),
  };
}
