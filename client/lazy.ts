/**
 * The modules the CLI loads only when a command that needs them runs: the local stores (and so the
 * native SQLite module), the config parser, OpenPGP, the break-glass readers. Loading the CLI loads
 * every command file (for the help), so a command file takes these from here, in its `run`, and
 * `lifeboat status` or `lifeboat --help` never loads them (test/cli-lazy.test.ts).
 *
 * require(), not `await import()`: bin/lifeboat.js runs changed sources through tsx/cjs, which hands
 * a dynamic import to the ES module loader, and that cannot resolve an extensionless TypeScript path
 * (nor would it share the CommonJS instances, e.g. of openpgp). Node caches each module: a second
 * call costs nothing.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
export const load = {
  localConfig: () => require('./local-config') as typeof import('./local-config'),
  agents: () => require('./agents') as typeof import('./agents'),
  breakGlass: () => require('./break-glass') as typeof import('./break-glass'),
  schedules: () => require('./schedules') as typeof import('./schedules'),
  storeMigrate: () => require('./storeMigrate') as typeof import('./storeMigrate'),
  database: () => require('../config/database') as typeof import('../config/database'),
  archives: () => require('../activities/lib/breakGlass') as typeof import('../activities/lib/breakGlass'),
  crypto: () => require('../activities/lib/crypto') as typeof import('../activities/lib/crypto'),
  selfRestore: () =>
    require('../activities/lib/selfRestore') as typeof import('../activities/lib/selfRestore'),
  sidecar: () => require('../activities/lib/sidecar') as typeof import('../activities/lib/sidecar'),
  signedRows: () => require('../activities/lib/signedRows') as typeof import('../activities/lib/signedRows'),
  signing: () => require('../activities/lib/signing') as typeof import('../activities/lib/signing'),
  openpgp: () => require('openpgp') as typeof import('openpgp'),
};
