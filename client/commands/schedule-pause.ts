import { SERVER_OPTIONS, type Command } from '../command';
import { onSchedule } from '../schedules';

export const command: Command = {
  name: 'schedule pause',
  summary: 'pause a schedule: no run starts until it is unpaused (a running one goes on)',
  usage: '<scheduleId> [--note <text>]',
  examples: ["lifeboat schedule pause demo-storage-full-backup --note 'storage migration until Friday'"],
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
      h.pause((ctx.values.note as string | undefined) ?? 'paused with lifeboat'),
    );
    ctx.out(`paused ${id}`);
    return 0;
  },
};
