#!/usr/bin/env node
// The worker as production starts it (`npm run worker`, `npm run up`, the Dockerfile); with the
// argument `agent`, the agent (`npm run agent`). The compiled JavaScript in dist/ (`npm run build`,
// run by the setup) when it is there and not older than the sources, as bin/lifeboat.js decides;
// otherwise the TypeScript sources through tsx. Compiled, the worker holds about 40 MB less than
// with tsx compiling it in-process (README, "Worker memory"). LIFEBOAT_WORKER_RUNS says which ran.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const role = process.argv[2] === 'agent' ? 'agent' : 'main';
const compiled = path.join(ROOT, 'dist', 'worker', `${role}.js`);

function useCompiled() {
  if (process.env.LIFEBOAT_CLI_SOURCES === '1' || !fs.existsSync(compiled)) return false;
  // An installed package without TypeScript sources (dist/ is all there is), or the image
  // (NODE_ENV=production, dist/ compiled in its own stage: file times say nothing there).
  if (!fs.existsSync(path.join(ROOT, 'worker', `${role}.ts`))) return true;
  if (process.env.NODE_ENV === 'production') return true;
  return !require('../scripts/build.js').isStale(ROOT);
}

// A small V8 young generation keeps the resident set flat while archives stream through (README,
// "Worker memory"). V8 sizes it when the process starts, so it is a flag on node's command line (or
// in NODE_OPTIONS): set at run time it would change nothing.
const semiSpace = /--max-semi-space-size/;
if (!process.execArgv.some((a) => semiSpace.test(a)) && !semiSpace.test(process.env.NODE_OPTIONS ?? ''))
  console.warn(
    'lifeboat worker: started without --max-semi-space-size=2 (as `npm run worker` starts it): it will hold more memory',
  );

if (useCompiled()) {
  process.env.LIFEBOAT_WORKER_RUNS = 'compiled';
  require(compiled).start();
} else {
  process.env.LIFEBOAT_WORKER_RUNS = 'sources';
  console.warn(
    `lifeboat worker: running the TypeScript sources (dist/ is missing or older; \`npm run build\` compiles them)`,
  );
  require('tsx/cjs');
  require(path.join(ROOT, 'worker', `${role}.ts`)).start();
}
