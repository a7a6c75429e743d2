import * as assert from 'node:assert/strict';
import { chatHtml, contentSecurityPolicy } from '../../extension/chatHtml';

const input = {
  nonce: 'abcdefghijklmnopqrstuvwx',
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/dist/chat.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/chat.css',
};

describe('chat webview HTML', () => {
  it('allows only the nonce script and local resources', () => {
    const csp = contentSecurityPolicy(input.nonce, input.cspSource);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, new RegExp(`script-src 'nonce-${input.nonce}'(;|$)`));
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:\/\/(?!file\+)|\*/);
  });

  it('has one script, carrying the nonce, and no inline code', () => {
    const html = chatHtml(input);
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.equal(scripts.length, 1);
    assert.ok(scripts[0].includes(`nonce="${input.nonce}"`));
    assert.ok(scripts[0].includes(`src="${input.scriptUri}"`));
    assert.doesNotMatch(html, /<script[^>]*>[^<]+<\/script>/);
    assert.doesNotMatch(html, /\son\w+=/i);
    assert.doesNotMatch(html, /style="/);
  });

  it('refuses a weak nonce and escapes attribute values', () => {
    assert.throws(() => chatHtml({ ...input, nonce: 'short' }), /nonce/);
    assert.throws(() => chatHtml({ ...input, nonce: '"><script>alert(1)</script>' }), /nonce/);
    const html = chatHtml({ ...input, styleUri: 'x"><script>alert(1)</script>' });
    assert.doesNotMatch(html, /<script>alert/);
  });
});
