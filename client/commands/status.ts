import { SA_RUNBOOK_NAME, SA_RUNBOOK_STATE, SA_RUNBOOK_TARGET } from '../../common/constants';
import { JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { formatStatus } from '../format';
import { runHealth, shownState, stuckAdvice } from '../../activities/lib/runHealth';
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
    const sa = description.typedSearchAttributes;
    if (health.stuck) {
      // A stuck run cannot answer a query: what Temporal and the search attributes know.
      const summary = {
        workflowId: handle.workflowId,
        runbook: sa.get(SA_RUNBOOK_NAME) ?? description.type,
        target: sa.get(SA_RUNBOOK_TARGET),
        state: 'stuck',
        ownState: sa.get(SA_RUNBOOK_STATE),
        stuck: health.stuck,
      };
      if (ctx.values.json) ctx.out(JSON.stringify(summary, null, 2));
      else {
        ctx.out(handle.workflowId);
        ctx.out(
          `  runbook ${summary.runbook}, target ${summary.target ?? '?'}, state STUCK (its own last state: ${summary.ownState ?? '?'})`,
        );
        for (const line of stuckAdvice(handle.workflowId, health.stuck)) ctx.out(`  ${line}`);
      }
      return 0;
    }
    const status = await queryStatus(client, handle);
    const state = shownState(status.state, health);
    const ended = state !== status.state ? { state, ownState: status.state, endedBy: health.endedBy } : {};
    if (ctx.values.json) {
      ctx.out(JSON.stringify({ workflowId: handle.workflowId, ...status, ...ended }, null, 2));
      return 0;
    }
    const lines = formatStatus(handle.workflowId, status);
    if (state !== status.state) {
      const by = health.endedBy;
      lines[1] = `  runbook ${status.runbook}, target ${status.target}, state ${state.toUpperCase()} by Temporal${health.closedAt ? ` at ${health.closedAt}` : ''}${by?.reason ? ` (${by.reason}${by.identity ? `, by ${by.identity}` : ''})` : by?.identity ? ` (by ${by.identity})` : ''}`;
      lines.splice(
        2,
        0,
        `  the run's own last state: ${status.state.toUpperCase()} — it was ended from outside and could not record it`,
      );
    }
    lines.forEach((l) => ctx.out(l));
    return 0;
  },
};
