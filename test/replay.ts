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
  const byId = new Map<string, string>();
  const histories = files.map((file) => {
    const { workflowId, history } = historyFromJson(fs.readFileSync(path.join(folder, file), 'utf8'));
    byId.set(workflowId, file);
    return { workflowId, history };
  });
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath }, replayName: `replay-${runbook}` },
    histories,
  )) {
    if (!result.error) continue;
    // The core's own words name the first event that no longer matches.
    const detail = /\[TMPRL\d+\][^"]*/.exec(result.error.message)?.[0] ?? result.error.message;
    const file = path.join(
      path.relative(process.cwd(), folder),
      byId.get(result.workflowId) ?? result.workflowId,
    );
    failures.push(`runbook ${runbook}, history ${file}: ${detail}`);
  }
  return failures;
}
