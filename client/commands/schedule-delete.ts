import { SERVER_OPTIONS, type Command } from '../command';
import { onSchedule } from '../schedules/find';

export const command: Command = {
  name: 'schedule delete',
  summary: 'delete a schedule (runs it started go on)',
  usage: '<scheduleId>',
  examples: ['lifeboat schedule delete demo-storage-full-backup'],
  options: { ...SERVER_OPTIONS },
  positionals: ['scheduleId'],
  server: true,
  async run(ctx) {
    const id = ctx.positionals[0];
    const client = await ctx.connect();
    await onSchedule(client, id, (h) => h.delete());
    ctx.out(`deleted ${id}`);
    return 0;
  },
};
