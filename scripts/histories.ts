/**
 * `npm run histories`: records the replay suite's histories afresh (test/histories/<runbook>/) by
 * running the workflow tests with LIFEBOAT_RECORD_HISTORIES=1 (test/history-recorder.ts). Refreshing
 * histories is a deliberate act: it accepts that runs in flight of the old code need not replay.
 * Say so in the commit.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUNBOOKS } from '../runbooks/registry';

const ROOT = path.resolve(__dirname, '..');
const HISTORIES = path.join(ROOT, 'test', 'histories');

function main(): number {
  for (const name of fs.existsSync(HISTORIES) ? fs.readdirSync(HISTORIES) : [])
    if (fs.statSync(path.join(HISTORIES, name)).isDirectory())
      fs.rmSync(path.join(HISTORIES, name), { recursive: true, force: true });
  // The replay suite itself, and the tests that drive other processes, record nothing.
  const jest = spawnSync(
    process.execPath,
    [
      require.resolve('jest/bin/jest'),
      '--testPathIgnorePatterns',
      '/test/(replay|ui|up|deploy)\\.test\\.ts$',
    ],
    { cwd: ROOT, stdio: 'inherit', env: { ...process.env, LIFEBOAT_RECORD_HISTORIES: '1' } },
  );
  const counts = RUNBOOKS.map((r) => {
    const dir = path.join(HISTORIES, r.name);
    return [r.name, fs.existsSync(dir) ? fs.readdirSync(dir).length : 0] as const;
  });
  for (const [name, n] of counts) console.log(`histories: ${name}: ${n}`);
  const none = counts.filter(([, n]) => n === 0).map(([name]) => name);
  if (none.length) console.error(`histories: no history of ${none.join(', ')}; add a test that runs it`);
  if (jest.status !== 0) console.error('histories: the suite failed; what it recorded may be incomplete');
  return none.length || jest.status !== 0 ? 1 : 0;
}

process.exit(main());
