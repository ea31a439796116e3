#!/usr/bin/env node
// The `lifeboat` CLI: the compiled JavaScript in dist/ (`npm run build`, run by the setup) when it is
// there and not older than the sources; otherwise the TypeScript sources through tsx (a checkout
// whose sources changed since the last build). `lifeboat version` says which one runs.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const compiled = path.join(ROOT, 'dist', 'client', 'cli.js');

function useCompiled() {
  if (process.env.LIFEBOAT_CLI_SOURCES === '1' || !fs.existsSync(compiled)) return false;
  // A copy with dist/ and no TypeScript sources runs dist/ (the CLI package is one bundle instead:
  // scripts/pack-cli.js).
  if (!fs.existsSync(path.join(ROOT, 'client', 'cli.ts'))) return true;
  return !require('../scripts/build.js').isStale(ROOT);
}

let cli;
if (useCompiled()) {
  process.env.LIFEBOAT_CLI_RUNS = 'compiled';
  cli = require(compiled);
} else {
  process.env.LIFEBOAT_CLI_RUNS = 'sources';
  require('tsx/cjs');
  cli = require('../client/cli.ts');
}

cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
