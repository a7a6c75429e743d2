// Recent inline completions, least recently used dropped first. A lookup also matches when the user has since
// typed the first characters of a cached suggestion: the rest of it is the answer, with no engine request.

/** Characters of text before and after the cursor that identify where a completion was made. */
const PREFIX_KEY_CHARS = 400;
const SUFFIX_KEY_CHARS = 200;

interface Entry { uri: string; prefixTail: string; suffixHead: string; items: string[] }

export class CompletionCache {
  private readonly entries = new Map<number, Entry>();
  private nextId = 0;

  constructor(private readonly capacity = 64) {}

  /** `items` may be empty: the engine had nothing to offer here, and asking again would give nothing again. */
  put(uri: string, prefix: string, suffix: string, items: string[]): void {
    this.entries.set(this.nextId++, {
      uri, prefixTail: prefix.slice(-PREFIX_KEY_CHARS), suffixHead: suffix.slice(0, SUFFIX_KEY_CHARS), items,
    });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The cached completions still valid at this cursor (what remains of each after the typed part), if any. */
  get(uri: string, prefix: string, suffix: string): string[] | undefined {
    const suffixHead = suffix.slice(0, SUFFIX_KEY_CHARS);
    const ids = [...this.entries.keys()].reverse();
    for (const id of ids) {
      const entry = this.entries.get(id)!;
      if (entry.uri !== uri || entry.suffixHead !== suffixHead) continue;
      if (entry.items.length === 0) {
        if (!prefix.endsWith(entry.prefixTail) || prefix.length < entry.prefixTail.length) continue;
        return [];
      }
      const remaining = entry.items.map((item) => remainderAfterTyping(entry.prefixTail, item, prefix)).filter((r): r is string => !!r);
      if (remaining.length === 0) continue;
      this.entries.delete(id);
      this.entries.set(id, entry);
      return remaining;
    }
    return undefined;
  }

  clear(): void { this.entries.clear(); }
}

/**
 * When `prefix` ends with `prefixTail` followed by the first k characters of `item` (k < its length), the
 * rest of `item`; otherwise undefined.
 */
export function remainderAfterTyping(prefixTail: string, item: string, prefix: string): string | undefined {
  const window = prefix.slice(-(prefixTail.length + item.length));
  for (let at = window.lastIndexOf(prefixTail); at >= 0; at = at === 0 ? -1 : window.lastIndexOf(prefixTail, at - 1)) {
    const typed = window.slice(at + prefixTail.length);
    if (typed.length < item.length && item.startsWith(typed)) {
      // The whole prefix must end here, not just the window.
      return item.slice(typed.length);
    }
  }
  return undefined;
}
