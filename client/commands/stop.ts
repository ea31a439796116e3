import { ACTOR_OPTION, SERVER_OPTIONS, requireFlag, type Command } from '../command';
import { decide } from '../runs';
import { SIGN_OPTIONS, signerFrom } from '../signing';

export const command: Command = {
  name: 'stop',
  summary: 'stop a run safely: compensations run and it ends as stopped',
  usage: '<workflowId> --as <name> --reason <text> [--key <private key file>]',
  examples: ['lifeboat stop incident-42 --as alice --reason "restoring by hand"'],
  options: {
    ...ACTOR_OPTION,
    reason: { type: 'string', value: 'text', description: 'why the run is stopped (required)' },
    ...SIGN_OPTIONS,
    ...SERVER_OPTIONS,
  },
  positionals: ['workflowId'],
  server: true,
  async run(ctx) {
    const actor = requireFlag(ctx, 'as', 'say who stops the run');
    const reason = requireFlag(ctx, 'reason', 'say why the run is stopped');
    const sign = signerFrom(ctx.values, actor, reason);
    const client = await ctx.connect();
    const receipt = await decide(
      client,
      ctx.positionals[0],
      { action: 'stop', args: { actor, reason } },
      sign,
    );
    ctx.out(receipt.message);
    return 0;
  },
};
