// The chat webview's rendering of model output (media/chat/markdown.ts) under a real DOM (jsdom), as the webview
// runs it: hostile markdown never becomes a script, an event handler, a style, a form or a link to anything but
// http(s) — VS Code's command: links and data: images included — and code stays text.
import * as assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import type * as Markdown from '../../media/chat/markdown';

describe('chat webview: markdown rendering of hostile text under a DOM', () => {
  let dom: JSDOM;
  let renderMarkdown: typeof Markdown.renderMarkdown;

  before(() => {
    dom = new JSDOM('<!doctype html><html><body></body></html>');
    // DOMPurify binds to the global window when its module loads, as it does in the webview.
    (globalThis as { window?: unknown }).window = dom.window;
    // Loaded only now, after the window exists (media/chat/markdown.ts is compiled by the root tsconfig for this).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ({ renderMarkdown } = require('../../media/chat/markdown') as typeof Markdown);
  });

  after(() => {
    delete (globalThis as { window?: unknown }).window;
    dom.window.close();
  });

  /** The rendered HTML as the webview shows it: parsed into a fresh element. */
  function rendered(text: string): HTMLElement {
    const host = dom.window.document.createElement('div');
    host.innerHTML = renderMarkdown(text).html;
    return host;
  }

  function assertInert(host: HTMLElement): void {
    for (const tag of ['script', 'style', 'iframe', 'object', 'embed', 'form', 'input', 'button', 'textarea', 'svg', 'math', 'img[src^="data:"]']) {
      assert.equal(host.querySelector(tag), null, `<${tag}> in ${host.innerHTML}`);
    }
    for (const el of Array.from(host.querySelectorAll('*'))) {
      for (const attr of Array.from(el.attributes)) {
        assert.doesNotMatch(attr.name, /^on/i, `event handler ${attr.name} in ${host.innerHTML}`);
        assert.notEqual(attr.name, 'style', `style attribute in ${host.innerHTML}`);
        if (attr.name === 'href' || attr.name === 'src' || attr.name === 'xlink:href' || attr.name === 'action') {
          assert.match(attr.value, /^https?:\/\//i, `${attr.name}="${attr.value}" in ${host.innerHTML}`);
        }
      }
    }
  }

  const hostile: [string, string][] = [
    ['raw script', '<script>alert(1)</script>'],
    ['img onerror', '<img src=x onerror="alert(1)">'],
    ['svg onload', '<svg onload=alert(1)></svg>'],
    ['javascript: link', '[click](javascript:alert(1))'],
    ['entity-encoded javascript: link', '[click](jav&#x61;script:alert(1))'],
    ['VS Code command: link', '[run](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%22%7D)'],
    ['vscode: URI', '[open](vscode://ms-vscode.remote/please)'],
    ['file: link', '[secrets](file:///etc/passwd)'],
    ['data: image', '![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)'],
    ['relative link', '[up](../../../etc/passwd)'],
    ['autolink to command:', '<command:workbench.action.reloadWindow>'],
    ['fence language injection', '```"><img src=x onerror=alert(1)>\ncode\n```'],
    ['html in a code fence', '```html\n<script>alert(1)</script>\n```'],
    ['inline html in a list', '- item <iframe src="https://evil.example"></iframe>\n- <form action="https://evil.example"><input></form>'],
    ['style tag', '<style>body{display:none}</style>'],
    ['reference-style link', '[x][r]\n\n[r]: javascript:alert(1)'],
  ];

  for (const [what, text] of hostile) {
    it(`renders ${what} inert`, () => {
      assertInert(rendered(text));
    });
  }

  it('keeps http(s) links and shows markup in text as text', () => {
    const host = rendered('See [docs](https://example.com/a) and <b>bold?</b>');
    const link = host.querySelector('a');
    assert.equal(link?.getAttribute('href'), 'https://example.com/a');
    assert.equal(host.querySelector('b'), null);
    assert.match(host.textContent ?? '', /<b>bold\?<\/b>/);
  });

  it('keeps a code block\'s text exactly, numbered for the copy and insert buttons, highlighted when the language is known', () => {
    const code = 'if (a < b && c > d) { run("<script>"); }';
    const result = renderMarkdown(`text\n\n\`\`\`ts\n${code}\n\`\`\`\n\n\`\`\`nosuchlanguage\nplain <i>\n\`\`\``);
    assert.deepEqual(result.blocks, [`${code}\n`, 'plain <i>\n']);
    const host = dom.window.document.createElement('div');
    host.innerHTML = result.html;
    const blocks = host.querySelectorAll('pre.code-block');
    assert.equal(blocks.length, 2);
    assert.equal(blocks[0].getAttribute('data-block'), '0');
    assert.equal(blocks[0].getAttribute('data-language'), 'ts');
    assert.equal(blocks[0].textContent, `${code}\n`);
    assert.ok(blocks[0].querySelector('span[class^="hljs-"]'), 'known language: highlighted');
    assert.equal(blocks[1].getAttribute('data-block'), '1');
    assert.equal(blocks[1].textContent, 'plain <i>\n');
    assert.equal(blocks[1].querySelector('i'), null);
  });

  it('allows http: as well as https:, and judges the whole URL, not a URL inside it', () => {
    assert.equal(rendered('[a](http://example.com/)').querySelector('a')?.getAttribute('href'), 'http://example.com/');
    const smuggled = rendered('[a](vscode://x/open?u=https://example.com/)').querySelector('a');
    assert.equal(smuggled?.getAttribute('href') ?? null, null);
  });

  it('names a code block\'s language by the first word of its info string, and no language as empty', () => {
    const result = renderMarkdown('```  python   title="x.py"\nprint(1)\n```\n\n```\nplain\n```');
    const host = dom.window.document.createElement('div');
    host.innerHTML = result.html;
    const blocks = host.querySelectorAll('pre.code-block');
    assert.equal(blocks[0].getAttribute('data-language'), 'python');
    assert.ok(blocks[0].querySelector('span[class^="hljs-"]'), 'python: highlighted');
    assert.equal(blocks[1].getAttribute('data-language'), '');
  });

  it('leaves a bare URL in the text as text (no linkify)', () => {
    const host = rendered('see https://example.com/page for more');
    assert.equal(host.querySelector('a'), null);
  });

  it('turns single newlines into no line breaks and leaves raw HTML off', () => {
    const host = rendered('one\ntwo');
    assert.equal(host.querySelector('br'), null);
    assert.equal(host.querySelector('p')?.textContent, 'one\ntwo');
  });
});
