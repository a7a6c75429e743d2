// Definitions (functions, classes, types, ...) of the workspace's files, found with tree-sitter, by name: the
// source of "definitions of symbols the code around the cursor uses" in the prompt.
import type { Node, Tree } from 'web-tree-sitter';
import type { ContextSnippet } from './contextSnippet';

const DEFINITION_TYPES = [
  // TypeScript / JavaScript
  'function_declaration', 'generator_function_declaration', 'class_declaration', 'abstract_class_declaration',
  'interface_declaration', 'type_alias_declaration', 'enum_declaration', 'method_definition',
  // Python
  'function_definition', 'class_definition',
  // Go
  'method_declaration', 'type_spec',
  // Rust
  'function_item', 'struct_item', 'enum_item', 'trait_item', 'type_item', 'union_item', 'const_item', 'static_item',
  'macro_definition',
  // Java
  'record_declaration', 'constructor_declaration',
  // C / C++
  'struct_specifier', 'class_specifier', 'union_specifier', 'enum_specifier', 'type_definition',
];

const WRAPPERS = new Set(['export_statement', 'decorated_definition']);

const IDENTIFIER_TYPES = ['identifier', 'type_identifier', 'property_identifier', 'field_identifier'];

/** Longest excerpt kept of one definition (its first lines: the signature and the start of the body). */
const MAX_SNIPPET_LINES = 12;
const MAX_SNIPPET_CHARS = 800;

export class DefinitionIndex {
  private readonly byName = new Map<string, ContextSnippet[]>();
  private readonly namesByUri = new Map<string, string[]>();

  /** Replaces everything known about `uri` with the definitions in `tree`. */
  index(uri: string, label: string, tree: Tree): void {
    this.remove(uri);
    const names: string[] = [];
    for (const node of tree.rootNode.descendantsOfType(DEFINITION_TYPES)) {
      if (!node) continue;
      // `struct s *p` mentions a struct; only `struct s { ... }` defines it.
      if (node.type.endsWith('_specifier') && !node.childForFieldName('body')) continue;
      const name = definitionName(node);
      if (!name) continue;
      // Show `export` and decorators with what they belong to.
      const whole = node.parent && WRAPPERS.has(node.parent.type) ? node.parent : node;
      const snippet: ContextSnippet = {
        kind: 'definition', uri, label,
        startLine: whole.startPosition.row,
        endLine: Math.min(whole.endPosition.row, whole.startPosition.row + MAX_SNIPPET_LINES - 1),
        text: excerpt(whole.text),
      };
      const list = this.byName.get(name) ?? [];
      list.push(snippet);
      this.byName.set(name, list);
      names.push(name);
    }
    this.namesByUri.set(uri, names);
  }

  remove(uri: string): void {
    for (const name of this.namesByUri.get(uri) ?? []) {
      const kept = (this.byName.get(name) ?? []).filter((s) => s.uri !== uri);
      if (kept.length) this.byName.set(name, kept);
      else this.byName.delete(name);
    }
    this.namesByUri.delete(uri);
  }

  definitionsOf(names: Iterable<string>): ContextSnippet[] {
    const found: ContextSnippet[] = [];
    for (const name of names) found.push(...(this.byName.get(name) ?? []));
    return found;
  }

  get size(): number { return this.namesByUri.size; }
}

/** Identifiers used within `radius` lines of `line`. */
export function identifiersNear(tree: Tree, line: number, radius: number): Set<string> {
  const start = { row: Math.max(0, line - radius), column: 0 };
  const end = { row: line + radius + 1, column: 0 };
  const names = new Set<string>();
  for (const node of tree.rootNode.descendantsOfType(IDENTIFIER_TYPES, start, end)) {
    if (node && node.endIndex - node.startIndex < 80) names.add(node.text);
  }
  return names;
}

function definitionName(node: Node): string | undefined {
  const named = node.childForFieldName('name');
  if (named) return named.text;
  // C and C++ put the name inside nested declarators: int (*f)(void), struct x *g(void), ...
  let declarator = node.childForFieldName('declarator');
  for (let depth = 0; declarator && depth < 8; depth++) {
    if (/identifier$/.test(declarator.type)) return declarator.text;
    declarator = declarator.childForFieldName('declarator') ?? declarator.namedChildren.find((c) => c && /identifier$/.test(c.type)) ?? null;
  }
  return undefined;
}

function excerpt(text: string): string {
  const lines = text.split('\n').slice(0, MAX_SNIPPET_LINES).join('\n');
  return lines.length > MAX_SNIPPET_CHARS ? lines.slice(0, MAX_SNIPPET_CHARS) : lines;
}
