// Command-line parsing shared by the `latent` commands: node's own parseArgs, with one error type for bad usage.
import { parseArgs, ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseOptions<O extends Options>(command: string, args: string[], options: O): Record<keyof O, string | boolean | undefined> {
  try {
    const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
    return values as unknown as Record<keyof O, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}`);
  }
}

export function requireString(command: string, values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`${command}: --${name} is required`);
  return v;
}

export function parseNumber(command: string, name: string, text: string | undefined, dflt: number, check: (n: number) => boolean, what: string): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`${command}: --${name} must be ${what} (got "${text}")`);
  return n;
}

export function parseTokenList(command: string, text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new UsageError(`${command}: --tokens must be comma-separated token ids (got "${text}")`);
  return parts.map(Number);
}
