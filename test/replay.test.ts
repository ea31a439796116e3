/**
 * Runs outlive deploys (DESIGN §3): every runbook's recorded histories — runs waiting at each point
 * the suite reaches, and runs that completed, stopped or failed — replay against the current code.
 * A change that alters what a run in flight would do fails here, naming the runbook, the history file
 * and the first event that no longer matches; make such a change with `patched()` (docs/upgrading.md).
 * `npm run histories` records the files afresh from real runs: a deliberate act, said in the commit.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUNBOOKS } from '../runbooks/registry';
import { HISTORIES } from './history-recorder';
import { replayFailures } from './replay';

beforeAll(() => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
});

test('every runbook has recorded histories (npm run histories records them)', () => {
  const missing = RUNBOOKS.map((r) => r.name).filter(
    (name) =>
      !fs.existsSync(path.join(HISTORIES, name)) || fs.readdirSync(path.join(HISTORIES, name)).length === 0,
  );
  expect(missing).toEqual([]);
});

test.each(RUNBOOKS.map((r) => r.name))(
  '%s: every recorded history replays against the current code',
  async (name) => {
    if (!fs.existsSync(path.join(HISTORIES, name))) return;
    expect(await replayFailures(name, process.env.LIFEBOAT_TEST_BUNDLE!)).toEqual([]);
  },
);
