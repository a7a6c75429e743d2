#!/usr/bin/env node
// The `latent` command: a thin launcher for the compiled CLI (run `npm run build` first).
require('../out/engine/cli/main.js').main(process.argv.slice(2));
