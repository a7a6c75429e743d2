// Loads tree-sitter grammars (WASM) once per process and hands out one shared parser per grammar.
import { Language, Parser } from 'web-tree-sitter';
import { languageInfo } from './languages';

let runtimeReady: Promise<void> | undefined;
const parsers = new Map<string, Promise<Parser | undefined>>();

/** The parser for a language id, or undefined for plain text (or when its grammar fails to load). */
export function parserFor(languageId: string, onError?: (message: string) => void): Promise<Parser | undefined> {
  const grammarPath = languageInfo(languageId).grammarPath;
  if (!grammarPath) return Promise.resolve(undefined);
  let parser = parsers.get(grammarPath);
  if (!parser) {
    parser = (async () => {
      runtimeReady ??= Parser.init();
      await runtimeReady;
      const language = await Language.load(grammarPath);
      const p = new Parser();
      p.setLanguage(language);
      return p;
    })().catch((e: unknown) => {
      onError?.(`tree-sitter grammar ${grammarPath} failed to load: ${String(e)}`);
      return undefined;
    });
    parsers.set(grammarPath, parser);
  }
  return parser;
}
