#!/usr/bin/env node
// The `lifeboat` CLI: loads the TypeScript sources through tsx and runs client/cli.ts.
'use strict';
require('tsx/cjs');
const { main } = require('../client/cli.ts');

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
