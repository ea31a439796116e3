/**
 * `lifeboat retry` and `lifeboat skip`: the two decisions on the failed step a run waits on. They
 * differ only in the word, so one definition serves both.
 */
import { ACTOR_OPTION, SERVER_OPTIONS, requireFlag, type Command } from '../command';
import { decide } from '../runs';
import { SIGN_OPTIONS, signerFrom } from '../signing';

function failedStepCommand(action: 'retry' | 'skip', summary: string): Command {
  return {
    name: action,
    summary,
    usage: '<workflowId> --as <name> [--key <private key file>] [--comment <text>]',
    examples: [`lifeboat ${action} incident-42 --as alice`],
    options: {
      ...ACTOR_OPTION,
      comment: { type: 'string', value: 'text', description: 'recorded with the decision' },
      ...SIGN_OPTIONS,
      ...SERVER_OPTIONS,
    },
    positionals: ['workflowId'],
    server: true,
    async run(ctx) {
      const actor = requireFlag(ctx, 'as', 'say who decides');
      const comment = ctx.values.comment as string | undefined;
      const sign = signerFrom(ctx.values, actor, comment);
      const client = await ctx.connect();
      const receipt = await decide(client, ctx.positionals[0], { action, args: { actor, comment } }, sign);
      ctx.out(receipt.message);
      return 0;
    },
  };
}

export const retry = failedStepCommand('retry', 'run the failed step the run waits on again');

export const skip = failedStepCommand(
  'skip',
  'skip the failed step the run waits on (only where the step allows it)',
);
