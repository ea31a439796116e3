/**
 * Builds "authTokens" targets on disk in the layout of procedure 001 §2 and §3.2: the application's
 * token file `home/.maidos/tokens.json`, and a stand-in for the application with two actions, run
 * without a shell: `disconnect` (writes `auth-state` = Disconnected, as the auth module would) and
 * `sign-in` (writes a new token the way the procedure says, to a temp file then renamed, and sets
 * `auth-state` = Connected). `writeTokensDemo` is the demo target for `npm run up`; the tests build
 * their fixtures with `writeTokensFixture`.
 *
 *     <dir>/home/.maidos/tokens.json    the token file (here: torn, as after a crash mid-write)
 *     <dir>/auth-state                  Connected | Disconnected
 *     <dir>/app.js                      the stand-in: node app.js disconnect|sign-in <dir>
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type TokenFileState = 'valid' | 'missing' | 'torn' | 'directory';

/** What a token file holds in the fixtures: a secret that must never show up anywhere else. */
export const FIXTURE_SECRET = 'sk-live-lifeboat-fixture-4f9a2c7e1b';

function appScript(): string {
  return `// Stand-in for the application's auth module (Lifeboat demo): node app.js disconnect|sign-in <dir>
const fs = require('node:fs');
const path = require('node:path');
const [action, dir] = process.argv.slice(2);
const state = path.join(dir, 'auth-state');
if (action === 'disconnect') {
  fs.writeFileSync(state, 'Disconnected\\n');
} else if (action === 'sign-in') {
  const file = path.join(dir, 'home', '.maidos', 'tokens.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = file + '.tmp-' + process.pid;
  const token = { access_token: 'demo-' + Date.now().toString(36), refresh_token: 'demo-refresh', expires_in: 3600 };
  const fd = fs.openSync(tmp, 'w', 0o600);
  fs.writeSync(fd, JSON.stringify(token));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  fs.writeFileSync(state, 'Connected\\n');
} else {
  console.error('usage: node app.js disconnect|sign-in <dir>');
  process.exit(2);
}
`;
}

export interface TokensFixture {
  target: Record<string, unknown>;
  file: string;
  quarantine: string;
  stateFile: string;
  /** The argv that signs in again (what a person does at the hold). */
  signIn: string[];
}

/** A token target in `dir` whose token file is in `state`. */
export function writeTokensFixture(
  dir: string,
  state: TokenFileState,
  options: { disconnect?: boolean } = {},
): TokensFixture {
  const file = path.join(dir, 'home', '.maidos', 'tokens.json');
  const script = path.join(dir, 'app.js');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(script, appScript());
  fs.writeFileSync(path.join(dir, 'auth-state'), 'Connected\n');
  const token = JSON.stringify({ access_token: FIXTURE_SECRET, refresh_token: `${FIXTURE_SECRET}-r` });
  if (state === 'valid') fs.writeFileSync(file, token, { mode: 0o600 });
  // A write cut off mid-way: the secret is in there, the JSON is not whole.
  if (state === 'torn') fs.writeFileSync(file, token.slice(0, 40), { mode: 0o600 });
  if (state === 'directory') fs.mkdirSync(file);
  const signIn = [process.execPath, script, 'sign-in', dir];
  return {
    target: {
      description: 'maidos-auth token file (procedure 001)',
      authTokens: { file, reauthenticate: `run: ${signIn.join(' ')}` },
      ...(options.disconnect === false
        ? {}
        : {
            commands: {
              disconnect: { argv: [process.execPath, script, 'disconnect', dir], timeoutSeconds: 30 },
            },
          }),
    },
    file,
    quarantine: path.join(path.dirname(file), 'quarantine'),
    stateFile: path.join(dir, 'auth-state'),
    signIn,
  };
}

/** The `npm run up` demo: a token file torn by a crash mid-write. */
export function writeTokensDemo(dir: string): Record<string, unknown> {
  return writeTokensFixture(dir, 'torn').target;
}
