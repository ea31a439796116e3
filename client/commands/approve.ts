import { ACTOR_OPTION, SERVER_OPTIONS, requireFlag, type Command } from '../command';
import { decide } from '../runs';
import { SIGN_OPTIONS, signerFrom } from '../signing';

export const command: Command = {
  name: 'approve',
  summary: 'approve the gate a run waits at (counts toward its quorum)',
  usage: '<workflowId> --as <name> [--key <private key file>] [--gate <gate>] [--comment <text>]',
  examples: [
    'lifeboat approve incident-42 --as alice --comment "backup checked by hand"',
    'LIFEBOAT_KEY_PASSPHRASE=… lifeboat approve incident-42 --as alice --key ~/.lifeboat/alice.key.asc',
  ],
  options: {
    ...ACTOR_OPTION,
    gate: {
      type: 'string',
      value: 'gate',
      description: 'the gate to approve (default: the one the run waits at)',
    },
    comment: { type: 'string', value: 'text', description: 'recorded with the decision' },
    ...SIGN_OPTIONS,
    ...SERVER_OPTIONS,
  },
  positionals: ['workflowId'],
  server: true,
  async run(ctx) {
    const actor = requireFlag(ctx, 'as', 'say who approves');
    const comment = ctx.values.comment as string | undefined;
    const sign = signerFrom(ctx.values, actor, comment);
    const client = await ctx.connect();
    const receipt = await decide(
      client,
      ctx.positionals[0],
      { action: 'approve', args: { actor, gate: ctx.values.gate as string | undefined, comment } },
      sign,
    );
    ctx.out(receipt.message);
    return 0;
  },
};
