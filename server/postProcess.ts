// Turns what the model wrote into what the editor shows: stop where it repeats the text after the cursor,
// keep brackets balanced, match the document's indentation, cut runaway repetition, drop empty results.
// Each rule is its own function so that tests can aim at it; postProcess applies them in order.

export interface CompletionContext {
  /** Text of the document before the cursor (at least the current line). */
  prefix: string;
  /** Text of the document after the cursor (at least a few lines). */
  suffix: string;
  multiline: boolean;
  /** The document's indentation unit: '\t' or some spaces. */
  indentUnit: string;
  /** Why the engine stopped: 'length' means the text may end mid-construct. */
  finishReason?: string;
}

const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSERS = new Set([')', ']', '}']);

/** The completion to show, or '' when nothing useful is left. */
export function postProcess(completion: string, ctx: CompletionContext): string {
  const eol = ctx.prefix.includes('\r\n') || ctx.suffix.includes('\r\n') ? '\r\n' : '\n';
  let text = completion.replace(/\r\n/g, '\n');
  if (!ctx.multiline) text = firstLine(text);
  text = stopAtSuffixRepeat(text, ctx.suffix);
  text = balanceBrackets(text, ctx);
  text = dropRepetition(text);
  if (ctx.multiline) text = fixIndentation(text, ctx);
  text = stripRestOfLineOverlap(text, ctx.suffix);
  text = text.replace(/[ \t]+$/, '');
  if (text.trim() === '') return '';
  return eol === '\n' ? text : text.replace(/\n/g, eol);
}

/** Everything up to the first line break; a completion that starts with one is left to be dropped. */
export function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

/**
 * Cuts the completion before the first of its lines (after its first) that repeats the next non-blank line of
 * the document after the cursor: the model is re-typing what is already there.
 */
export function stopAtSuffixRepeat(text: string, suffix: string): string {
  const nextLines = suffix.replace(/\r\n/g, '\n').split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '');
  if (nextLines.length === 0) return text;
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '' || lines[i].trim() !== nextLines[0]) continue;
    // A short line such as `}` must be followed by more of the same text (or nothing) to count as a repeat.
    const rest = lines.slice(i + 1).map((l) => l.trim()).filter((l) => l !== '');
    if (nextLines[0].length >= 6 || rest.length === 0 || rest[0] === nextLines[1]) {
      return lines.slice(0, i).join('\n').replace(/\s+$/, '');
    }
  }
  return text;
}

/**
 * Closing brackets that close something opened before the cursor: when the text after the cursor already
 * holds that closer, the completion stops before it; otherwise it may close the scope and stops after it
 * (at the end of that line). A multi-line completion cut by the token limit is taken back to its last line
 * where its own brackets were all closed.
 */
export function balanceBrackets(text: string, ctx: Pick<CompletionContext, 'suffix' | 'multiline' | 'finishReason'>): string {
  const stack: string[] = [];
  let quote: string | undefined;
  let lastBalancedLineEnd = -1;
  const suffixFirst = ctx.suffix.trimStart()[0];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote || (ch === '\n' && quote !== '`')) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') { quote = ch; continue; }
    if (ch === '\n' && stack.length === 0) lastBalancedLineEnd = i;
    if (OPENERS[ch]) { stack.push(OPENERS[ch]); continue; }
    if (!CLOSERS.has(ch)) continue;
    if (stack.length > 0) {
      if (stack[stack.length - 1] === ch) stack.pop();
      continue;
    }
    // `ch` closes a bracket opened before the cursor.
    if (ch === suffixFirst) {
      const before = text.slice(0, i);
      const lineStart = before.lastIndexOf('\n') + 1;
      return before.slice(lineStart).trim() === '' ? before.slice(0, lineStart).replace(/\s+$/, '') : before;
    }
    if (!ctx.multiline) return text.slice(0, i + 1);
    const nl = text.indexOf('\n', i);
    return nl < 0 ? text : text.slice(0, nl);
  }
  if (ctx.multiline && stack.length > 0 && ctx.finishReason === 'length' && lastBalancedLineEnd >= 0) {
    return text.slice(0, lastBalancedLineEnd);
  }
  return text;
}

/**
 * Re-indents a multi-line completion in the document's style: tabs or spaces as the document uses, and no
 * second indentation on the first line when the cursor already stands after the line's indentation.
 */
export function fixIndentation(text: string, ctx: Pick<CompletionContext, 'prefix' | 'indentUnit'>): string {
  const currentLine = ctx.prefix.slice(ctx.prefix.lastIndexOf('\n') + 1);
  const lines = text.split('\n');
  if (currentLine.trim() === '' && currentLine.length > 0) lines[0] = lines[0].replace(/^[ \t]+/, '');
  const modelUnit = detectIndentUnit(lines.slice(1).join('\n'));
  return lines.map((line, i) => (i === 0 ? line : reindent(line, modelUnit, ctx.indentUnit))).join('\n');
}

function reindent(line: string, from: string | undefined, to: string): string {
  if (!from || from === to) return line;
  const indent = /^[ \t]*/.exec(line)![0];
  const width = indent.replace(/\t/g, from === '\t' ? '\t' : from).length;
  const levels = Math.floor(width / from.length);
  const remainder = indent.length === 0 ? '' : ' '.repeat(width - levels * from.length);
  return to.repeat(levels) + remainder + line.slice(indent.length);
}

/** The indentation unit a text uses ('\t', or the smallest run of leading spaces), undefined when unindented. */
export function detectIndentUnit(text: string): string | undefined {
  let smallest = Infinity;
  let tabs = 0;
  let spaced = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('\t')) { tabs++; continue; }
    const n = /^ */.exec(line)![0].length;
    if (n > 0) { spaced++; smallest = Math.min(smallest, n); }
  }
  if (tabs === 0 && spaced === 0) return undefined;
  return tabs > spaced ? '\t' : ' '.repeat(smallest);
}

/**
 * Cuts runaway repetition: a block of one to four lines repeated three or more times in a row is kept once,
 * and a piece of a line repeated five or more times in a row is kept once.
 */
export function dropRepetition(text: string): string {
  const lines = text.split('\n');
  for (let start = 0; start < lines.length; start++) {
    for (let size = 1; size <= 4; size++) {
      const block = lines.slice(start, start + size);
      if (block.length < size || block.every((l) => l.trim() === '')) continue;
      let repeats = 1;
      while (sameLines(lines.slice(start + repeats * size, start + (repeats + 1) * size), block)) repeats++;
      if (repeats >= 3) return lines.slice(0, start + size).join('\n');
    }
  }
  // Only pieces holding a letter or digit: a `// ------` rule is not runaway output.
  for (const run of text.matchAll(/(.{2,}?)\1{4,}/g)) {
    if (/\w/.test(run[1])) return text.slice(0, run.index + run[1].length);
  }
  return text;
}

function sameLines(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((l, i) => l === b[i]);
}

/**
 * When the rest of the cursor's line (say `);`) is what a single-line completion ends with, that ending is
 * already in the document and is removed from the completion.
 */
export function stripRestOfLineOverlap(text: string, suffix: string): string {
  const restOfLine = suffix.slice(0, suffix.search(/\r?\n|$/)).trim();
  if (restOfLine === '' || text.includes('\n')) return text;
  const trimmed = text.replace(/\s+$/, '');
  return trimmed.endsWith(restOfLine) ? trimmed.slice(0, trimmed.length - restOfLine.length) : text;
}
