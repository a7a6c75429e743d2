// The small scope of mutation testing that fits a shared 2-core machine in minutes: the chat webview's markdown
// rendering and the inline-completion cache, each mutant run against the two suites that test them.
import base from './stryker.config.mjs';

export default {
  ...base,
  mutate: ['media/chat/markdown.ts', 'server/completionCache.ts'],
  commandRunner: {
    command: 'npx mocha --no-config --reporter dot --timeout 20000 out/test/media/markdownRendering.test.js out/test/server/completionState.test.js out/test/server/completionCacheKeys.test.js',
  },
  timeoutMS: 30_000,
  incrementalFile: 'reports/stryker-incremental-quick.json',
  htmlReporter: { fileName: 'reports/mutation-quick/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation-quick/mutation.json' },
};
