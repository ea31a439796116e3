import { SERVER_OPTIONS, type Command } from '../command';
import { onSchedule } from '../schedules';

export const command: Command = {
  name: 'schedule unpause',
  summary: 'unpause a schedule: runs start again at its next time',
  usage: '<scheduleId> [--note <text>]',
  examples: ["lifeboat schedule unpause demo-storage-full-backup --note 'migration done'"],
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
      h.unpause((ctx.values.note as string | undefined) ?? 'unpaused with lifeboat'),
    );
    ctx.out(`unpaused ${id}`);
    return 0;
  },
};
