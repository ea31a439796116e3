/** Replaying recorded histories against a workflow bundle (the replay suite, and tests of deploys). */
import { Worker } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HISTORIES, historyFromJson } from './history-recorder';

/** Replays every history of `runbook` in `dir` against the bundle; one line per history that fails. */
export async function replayFailures(runbook: string, codePath: string, dir = HISTORIES): Promise<string[]> {
  const folder = path.join(dir, runbook);
  const files = fs
    .readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const histories = files.map((file) => historyFromJson(fs.readFileSync(path.join(folder, file), 'utf8')));
  const failures: string[] = [];
  // Results come back one per history, in order: the nth result is the nth file's.
  let n = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath }, replayName: `replay-${runbook}` },
    histories,
  )) {
    const file = files[n];
    n += 1;
    if (histories[n - 1].workflowId !== result.workflowId)
      throw new Error(`replay results out of order: ${result.workflowId} for ${file}`);
    if (!result.error) continue;
    // The core's own words name the first event that no longer matches.
    const detail = /\[TMPRL\d+\][^"]*/.exec(result.error.message)?.[0] ?? result.error.message;
    failures.push(
      `runbook ${runbook}, history ${path.join(path.relative(process.cwd(), folder), file)}: ${detail}`,
    );
  }
  if (n !== files.length) throw new Error(`${files.length} histories of ${runbook}, ${n} replay results`);
  return failures;
}
