import { ACTOR_OPTION, SERVER_OPTIONS, requireFlag, type Command } from '../command';
import { decide } from '../runs';

export const command: Command = {
  name: 'retry',
  summary: 'run the failed step the run waits on again',
  usage: '<workflowId> --as <name> [--comment <text>]',
  examples: ['lifeboat retry incident-42 --as alice'],
  options: {
    ...ACTOR_OPTION,
    comment: { type: 'string', value: 'text', description: 'recorded with the decision' },
    ...SERVER_OPTIONS,
  },
  positionals: ['workflowId'],
  server: true,
  async run(ctx) {
    const actor = requireFlag(ctx, 'as', 'say who decides');
    const client = await ctx.connect();
    const receipt = await decide(client, ctx.positionals[0], {
      action: 'retry',
      args: { actor, comment: ctx.values.comment as string | undefined },
    });
    ctx.out(receipt.message);
    return 0;
  },
};
