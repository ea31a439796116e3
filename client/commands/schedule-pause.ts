/**
 * `lifeboat schedule pause` and `lifeboat schedule unpause`: they differ only in the word, so one
 * definition serves both. A running run goes on either way.
 */
import { SERVER_OPTIONS, type Command } from '../command';
import { onSchedule } from '../schedules/find';

function pauseCommand(word: 'pause' | 'unpause', summary: string, exampleNote: string): Command {
  return {
    name: `schedule ${word}`,
    summary,
    usage: '<scheduleId> [--note <text>]',
    examples: [`lifeboat schedule ${word} demo-storage-full-backup --note '${exampleNote}'`],
    options: {
      note: { type: 'string', value: 'text', description: 'why (shown by schedule list and in the UI)' },
      ...SERVER_OPTIONS,
    },
    positionals: ['scheduleId'],
    server: true,
    async run(ctx) {
      const id = ctx.positionals[0];
      const client = await ctx.connect();
      await onSchedule(client, id, (h) =>
        h[word]((ctx.values.note as string | undefined) ?? `${word}d with lifeboat`),
      );
      ctx.out(`${word}d ${id}`);
      return 0;
    },
  };
}

export const pause = pauseCommand(
  'pause',
  'pause a schedule: no run starts until it is unpaused (a running one goes on)',
  'storage migration until Friday',
);

export const unpause = pauseCommand(
  'unpause',
  'unpause a schedule: runs start again at its next time',
  'migration done',
);
