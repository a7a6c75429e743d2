// Mutation testing with StrykerJS: `npm run test:mutation` mutates the folders the hardening issue names, builds
// the mutated sources with tsc (mutation switching: one build, a mutant chosen per run through the environment, so
// child processes such as `latent serve` and the LSP run it too) and runs the mocha suites against each mutant.
// Incremental: reports/stryker-incremental.json keeps the last run's results, so a re-run tests only the mutants
// whose code or tests changed. A full first run is many hours of CPU; `npm run test:mutation:quick` is a small scope.
//
// The test runner is Stryker's command runner running mocha. @stryker-mutator/mocha-runner (per-test coverage,
// far fewer test runs) cannot load Mocha 12 yet: it requires mocha/lib/cli/run-helpers, which Mocha 12 renamed to
// .cjs (stryker-js PR #6205, open); its 10.x also needs Node >= 22. Switch `testRunner` to 'mocha' once it can.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'command',
  buildCommand: 'npx tsc -p .',
  commandRunner: { command: 'npx mocha --reporter dot' },
  mutate: [
    'server/**/*.ts',
    'engine/serve/**/*.ts',
    'engine/cache/**/*.ts',
    'extension/**/*.ts',
    'media/chat/**/*.ts',
    '!**/*.d.ts',
  ],
  coverageAnalysis: 'off',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  concurrency: 1,
  timeoutMS: 60_000,
  timeoutFactor: 1.5,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: ['out', 'dist', 'media/dist', '.e2e', 'reports', 'test-artifacts', '*.vsix'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
