// Which tree-sitter grammar parses which LSP language id, and how each language writes a line comment.
// Grammars come from @vscode/tree-sitter-wasm (the ones VS Code ships) and, for C, the tree-sitter-c package
// (its tree-sitter-c.wasm is ABI 15, which web-tree-sitter 0.25 loads).
import * as path from 'node:path';

export interface LanguageInfo {
  /** Absolute path of the grammar's .wasm file; undefined for plain text. */
  grammarPath?: string;
  /** Prefix of a line comment, used to label context snippets in prompts. */
  lineComment: string;
}

const vscodeWasmDir = path.join(path.dirname(require.resolve('@vscode/tree-sitter-wasm/package.json')), 'wasm');
const vscodeGrammar = (name: string) => path.join(vscodeWasmDir, `tree-sitter-${name}.wasm`);
const cGrammar = path.join(path.dirname(require.resolve('tree-sitter-c/package.json')), 'tree-sitter-c.wasm');

const byLanguageId: Record<string, LanguageInfo> = {
  typescript: { grammarPath: vscodeGrammar('typescript'), lineComment: '//' },
  typescriptreact: { grammarPath: vscodeGrammar('tsx'), lineComment: '//' },
  javascript: { grammarPath: vscodeGrammar('javascript'), lineComment: '//' },
  javascriptreact: { grammarPath: vscodeGrammar('javascript'), lineComment: '//' },
  python: { grammarPath: vscodeGrammar('python'), lineComment: '#' },
  go: { grammarPath: vscodeGrammar('go'), lineComment: '//' },
  rust: { grammarPath: vscodeGrammar('rust'), lineComment: '//' },
  java: { grammarPath: vscodeGrammar('java'), lineComment: '//' },
  c: { grammarPath: cGrammar, lineComment: '//' },
  cpp: { grammarPath: vscodeGrammar('cpp'), lineComment: '//' },
};

const byExtension: Record<string, string> = {
  '.ts': 'typescript', '.mts': 'typescript', '.cts': 'typescript', '.tsx': 'typescriptreact',
  '.js': 'javascript', '.mjs': 'javascript', '.cjs': 'javascript', '.jsx': 'javascriptreact',
  '.py': 'python', '.go': 'go', '.rs': 'rust', '.java': 'java',
  '.c': 'c', '.h': 'c', '.cc': 'cpp', '.cpp': 'cpp', '.cxx': 'cpp', '.hpp': 'cpp', '.hh': 'cpp', '.hxx': 'cpp',
};

const plainText: LanguageInfo = { lineComment: '#' };

export function languageInfo(languageId: string): LanguageInfo {
  return byLanguageId[languageId] ?? plainText;
}

/** The LSP language id of a workspace file, from its extension ('plaintext' when unknown). */
export function languageIdOfPath(filePath: string): string {
  return byExtension[path.extname(filePath).toLowerCase()] ?? 'plaintext';
}

export function isParsedLanguage(languageId: string): boolean {
  return languageInfo(languageId).grammarPath !== undefined;
}
