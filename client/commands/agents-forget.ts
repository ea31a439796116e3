import { WorkflowFailedError } from '@temporalio/client';
import { ACTOR_OPTION, SERVER_OPTIONS, requireFlag, type Command } from '../command';
import { badInput } from '../runs';

export const command: Command = {
  name: 'agents forget',
  summary:
    'forget an agent that is gone for good: its targets may be claimed by another (recorded in the audit)',
  usage: '<agent> --as <name>',
  examples: ['lifeboat agents forget host-a --as alice'],
  options: { ...ACTOR_OPTION, ...SERVER_OPTIONS },
  positionals: ['agent'],
  server: true,
  async run(ctx) {
    const actor = requireFlag(ctx, 'as', 'say who forgets the agent');
    const agent = ctx.positionals[0];
    const client = await ctx.connect();
    try {
      const { targets } = (await client.workflow.execute('forgetAgent', {
        taskQueue: ctx.taskQueue,
        workflowId: `lifeboat-agent-${agent}-forget-${Date.now()}`,
        args: [{ agent, actor }],
      })) as { targets: string[] };
      ctx.out(`forgot agent ${agent}; released ${targets.length ? targets.join(', ') : 'no targets'}`);
      return 0;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        let cause: unknown = err.cause;
        while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
        throw badInput(cause instanceof Error ? cause.message : err.message);
      }
      throw err;
    }
  },
};
