import { JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { formatLastRun, listSchedules } from '../schedules/find';

export const command: Command = {
  name: 'schedule list',
  summary: 'list schedules: runbook, target, when, paused, next run and the last run with its result',
  usage: '[--target <name>] [--json]',
  examples: ['lifeboat schedule list', 'lifeboat schedule list --target demo-storage --json'],
  options: {
    target: { type: 'string', value: 'name', description: 'only schedules of this target' },
    ...JSON_OPTION,
    ...SERVER_OPTIONS,
  },
  positionals: [],
  server: true,
  async run(ctx) {
    const client = await ctx.connect();
    const rows = await listSchedules(client, { target: ctx.values.target as string | undefined });
    if (ctx.values.json) {
      ctx.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      ctx.out('no schedules');
      return 0;
    }
    for (const r of rows) {
      ctx.out(`${r.scheduleId}  ${r.runbook} → ${r.target ?? '?'}  ${r.spec}`);
      ctx.out(`    ${r.paused ? `PAUSED${r.note ? ` (${r.note})` : ''}` : `next ${r.nextRun ?? 'never'}`}`);
      ctx.out(`    last ${formatLastRun(r.lastRun)}`);
    }
    return 0;
  },
};
