// The chat webview's HTML shell: no inline script or style, nothing remote, a Content-Security-Policy that lets
// only the bundled script (by nonce) and the extension's own stylesheet run. Pure, so the policy is tested.

export interface ChatHtmlInput {
  /** A fresh random nonce per page load. */
  nonce: string;
  /** `webview.cspSource`: the origin VS Code serves the extension's local resources from. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
}

export function contentSecurityPolicy(nonce: string, cspSource: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "frame-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export function chatHtml(input: ChatHtmlInput): string {
  if (!/^[A-Za-z0-9+/=]{16,}$/.test(input.nonce)) throw new Error('chatHtml: the nonce must be 16+ base64 characters');
  const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(input.nonce, input.cspSource))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(input.styleUri)}">
<title>Latent Coder Chat</title>
</head>
<body>
<main id="messages" aria-live="polite"></main>
<footer id="composer">
  <div id="chips" aria-label="Context"></div>
  <textarea id="input" rows="3" placeholder="Ask about your code (@ to add files, Enter to send)" aria-label="Question"></textarea>
  <div id="actions">
    <button id="attach" title="Add files as context (@)" aria-label="Add files">@</button>
    <span class="spacer"></span>
    <button id="stop" hidden title="Stop the answer">Stop</button>
    <button id="send" title="Send (Enter)">Send</button>
  </div>
</footer>
<script nonce="${attr(input.nonce)}" src="${attr(input.scriptUri)}"></script>
</body>
</html>`;
}
