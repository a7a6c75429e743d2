// Model output to safe HTML: markdown-it with raw HTML off, highlight.js for code, then DOMPurify. The text is
// untrusted: it never becomes markup of its own, a script, or a link to anything but http(s).

import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/common';
import MarkdownIt from 'markdown-it';

const markdown = new MarkdownIt({ html: false, linkify: false, breaks: false });

export interface RenderedMarkdown {
  html: string;
  /** The code blocks' text by index; the HTML marks each block with `data-block="<index>"`. */
  blocks: string[];
}

export function renderMarkdown(text: string): RenderedMarkdown {
  const blocks: string[] = [];
  const env = { blocks };
  const html = markdown.render(text, env);
  const clean = DOMPurify.sanitize(html, {
    ALLOWED_URI_REGEXP: /^https?:\/\//i,
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
    FORBID_ATTR: ['style'],
  });
  return { html: clean, blocks };
}

markdown.renderer.rules.fence = (tokens, index, _options, env) => {
  const token = tokens[index];
  const language = token.info.trim().split(/\s+/)[0] ?? '';
  const block = (env as { blocks: string[] }).blocks.push(token.content) - 1;
  const highlighted =
    language && hljs.getLanguage(language)
      ? hljs.highlight(token.content, { language, ignoreIllegals: true }).value
      : markdown.utils.escapeHtml(token.content);
  const label = language ? markdown.utils.escapeHtml(language) : '';
  return `<pre class="code-block" data-block="${block}" data-language="${label}"><code class="hljs">${highlighted}</code></pre>\n`;
};
