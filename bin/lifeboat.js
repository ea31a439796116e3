#!/usr/bin/env node
// The `lifeboat` CLI: the compiled JavaScript in dist/ (`npm run build`, run by the setup) when it is
// there and not older than the sources — the bundle of it, dist/lifeboat-cli.js, with its code cache
// (cached-bundle.js) when the build made one, else dist/client/cli.js; otherwise the TypeScript
// sources through tsx (a checkout whose sources changed since the last build). `lifeboat version`
// says which one runs. LIFEBOAT_CLI_BUNDLE=0 runs dist/client/cli.js even beside a bundle (its
// modules then show in require.cache: test/cli-lazy.test.ts checks what each command loads).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const compiled = path.join(ROOT, 'dist', 'client', 'cli.js');
const bundle = path.join(ROOT, 'dist', 'lifeboat-cli.js');

function useCompiled() {
  if (process.env.LIFEBOAT_CLI_SOURCES === '1' || !fs.existsSync(compiled)) return false;
  // A copy with dist/ and no TypeScript sources runs dist/ (the CLI package is one bundle instead:
  // scripts/pack-cli.js).
  if (!fs.existsSync(path.join(ROOT, 'client', 'cli.ts'))) return true;
  return !require('../scripts/build.js').isStale(ROOT);
}

function run(cli) {
  cli.main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

if (!useCompiled()) {
  process.env.LIFEBOAT_CLI_RUNS = 'sources';
  require('tsx/cjs');
  run(require('../client/cli.ts'));
} else if (process.env.LIFEBOAT_CLI_BUNDLE !== '0' && fs.existsSync(bundle)) {
  // The bundle runs the command itself (its entry sets LIFEBOAT_CLI_RUNS), as the CLI package's does.
  require('./cached-bundle.js').runBundle(bundle);
} else {
  process.env.LIFEBOAT_CLI_RUNS = 'compiled';
  run(require(compiled));
}
