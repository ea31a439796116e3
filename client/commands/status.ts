import { SA_RUNBOOK_NAME, SA_RUNBOOK_STATE, SA_RUNBOOK_TARGET } from '../../common/constants';
import { runHealth, shownState, stuckAdvice } from '../../activities/lib/runHealth';
import { JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { formatEndedByTemporal, formatStatus } from '../format';
import { existingRun, queryStatus } from '../runs';

export const command: Command = {
  name: 'status',
  summary:
    "show a run's state, what it waits for, its steps and decisions — and whether Temporal ended it, or it is stuck",
  usage: '<workflowId> [--json]',
  examples: ['lifeboat status corruptedStoreRecovery-demo-store-20261121T101500Z-ab12'],
  options: { ...JSON_OPTION, ...SERVER_OPTIONS },
  positionals: ['workflowId'],
  server: true,
  async run(ctx) {
    const client = await ctx.connect();
    const handle = await existingRun(client, ctx.positionals[0]);
    const description = await handle.describe();
    const health = await runHealth(handle, description);
    // A run whose workflow task keeps failing answers no query: what Temporal knows of it instead.
    let status;
    let queryError: unknown;
    if (!health.stuck)
      status = await queryStatus(client, handle).catch((err: unknown) => void (queryError = err));
    const failing = health.stuck ?? (status === undefined ? health.failing : undefined);
    if (!status && !failing) throw queryError;
    if (failing) {
      const sa = description.typedSearchAttributes;
      const summary = {
        workflowId: handle.workflowId,
        runbook: sa.get(SA_RUNBOOK_NAME) ?? description.type,
        target: sa.get(SA_RUNBOOK_TARGET),
        state: 'stuck',
        ownState: sa.get(SA_RUNBOOK_STATE),
        stuck: failing,
      };
      if (ctx.values.json) ctx.out(JSON.stringify(summary, null, 2));
      else {
        ctx.out(handle.workflowId);
        ctx.out(
          `  runbook ${summary.runbook}, target ${summary.target ?? '?'}, state STUCK (its own last state: ${summary.ownState ?? '?'})`,
        );
        for (const line of stuckAdvice(handle.workflowId, failing)) ctx.out(`  ${line}`);
      }
      return 0;
    }
    const run = status!;
    const state = shownState(run.state, health);
    if (ctx.values.json) {
      const ended = state !== run.state ? { state, ownState: run.state, endedBy: health.endedBy } : {};
      ctx.out(JSON.stringify({ workflowId: handle.workflowId, ...run, ...ended }, null, 2));
      return 0;
    }
    const lines = formatStatus(handle.workflowId, run);
    if (state !== run.state) lines.splice(1, 1, ...formatEndedByTemporal(run, state, health));
    lines.forEach((l) => ctx.out(l));
    return 0;
  },
};
