import { JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { formatStatus } from '../format';
import { existingRun, queryStatus } from '../runs';

export const command: Command = {
  name: 'status',
  summary: "show a run's state, what it waits for, its steps and decisions",
  usage: '<workflowId> [--json]',
  examples: ['lifeboat status corruptedStoreRecovery-demo-store-20261121T101500Z-ab12'],
  options: { ...JSON_OPTION, ...SERVER_OPTIONS },
  positionals: ['workflowId'],
  server: true,
  async run(ctx) {
    const client = await ctx.connect();
    const handle = await existingRun(client, ctx.positionals[0]);
    const status = await queryStatus(client, handle);
    if (ctx.values.json) ctx.out(JSON.stringify({ workflowId: handle.workflowId, ...status }, null, 2));
    else formatStatus(handle.workflowId, status).forEach((l) => ctx.out(l));
    return 0;
  },
};
