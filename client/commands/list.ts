import { JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { listRuns } from '../runs';

export const command: Command = {
  name: 'list',
  summary: 'list runs, optionally only those in one state or of one runbook',
  usage: '[--state <running|waiting|completed|stopped|failed|stuck|terminated>] [--runbook <name>] [--json]',
  examples: ['lifeboat list --state waiting', 'lifeboat list --runbook corruptedStoreRecovery --json'],
  options: {
    state: { type: 'string', value: 'state', description: 'only runs in this state' },
    runbook: { type: 'string', value: 'name', description: 'only runs of this runbook' },
    ...JSON_OPTION,
    ...SERVER_OPTIONS,
  },
  positionals: [],
  server: true,
  async run(ctx) {
    const client = await ctx.connect();
    const runs = await listRuns(client, {
      state: ctx.values.state as string | undefined,
      runbook: ctx.values.runbook as string | undefined,
    });
    if (ctx.values.json) {
      ctx.out(JSON.stringify(runs, null, 2));
      return 0;
    }
    if (runs.length === 0) {
      ctx.out('no runs match');
      return 0;
    }
    for (const r of runs) {
      ctx.out(
        `${(r.state ?? r.status.toLowerCase()).padEnd(10)} ${r.startTime}  ${r.runbook ?? '?'} → ${r.target ?? '?'}  ${r.workflowId}`,
      );
      if (r.stuck)
        ctx.out(
          `           workflow task failed ${r.stuck.failures}× since ${r.stuck.since ?? '?'}: ${r.stuck.failure}`,
        );
      else if (r.ownState) ctx.out(`           ended by Temporal; the run's own last state: ${r.ownState}`);
    }
    return 0;
  },
};
