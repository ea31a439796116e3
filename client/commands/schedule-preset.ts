import { CONFIG_OPTION, JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { load } from '../lazy';

export const command: Command = {
  name: 'schedule preset',
  summary:
    "create the procedure's cadence for a target: backups, verify and drills, as far as its config allows",
  usage: '<target> [--timezone <zone>] [--config <file>] [--json]',
  examples: [
    'lifeboat schedule preset demo-storage',
    'lifeboat schedule preset demo-storage --timezone Europe/Berlin',
  ],
  options: {
    timezone: { type: 'string', value: 'zone', description: 'IANA time zone of the times (default UTC)' },
    ...JSON_OPTION,
    ...CONFIG_OPTION,
    ...SERVER_OPTIONS,
  },
  positionals: ['target'],
  server: true,
  async run(ctx) {
    const targetName = ctx.positionals[0];
    const { localConfig } = load.localConfig();
    const { PRESET, applyPreset, requireTarget } = load.schedules();
    const config = localConfig(ctx.values as { config?: string });
    requireTarget(config, targetName);
    const client = await ctx.connect();
    const results = await applyPreset(client, config, targetName, {
      taskQueue: ctx.taskQueue,
      timezone: ctx.values.timezone as string | undefined,
    });
    if (ctx.values.json) ctx.out(JSON.stringify(results, null, 2));
    else
      for (const r of results)
        ctx.out(
          `${r.outcome.padEnd(8)} ${r.scheduleId}  ${r.runbook}: ${r.what}${r.reason ? ` — ${r.reason}` : ''}`,
        );
    if (results.some((r) => r.outcome === 'failed')) return 1;
    // Judged by the target's own schedules: lifeboat-self's, which come along, do not count.
    const own = results.filter((r) => r.target === targetName);
    if (own.some((r) => r.outcome === 'created' || r.outcome === 'exists')) return 0;
    ctx.err(
      `lifeboat schedule preset: nothing of the preset (${PRESET.map((p) => p.kind).join(', ')}) fits target '${targetName}'`,
    );
    return 2;
  },
};
