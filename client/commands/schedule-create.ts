import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_OPTION, SERVER_OPTIONS, requireFlag, type Command } from '../command';
import { load } from '../lazy';
import { badInput, parseInputFlag, requireRunbook } from '../runs';
import type { ScheduleWhen } from '../schedules';

/** The worker config if one is given or found where `localConfig` looks; else undefined. */
function configIfPresent(flags: { config?: string }) {
  const found =
    flags.config !== undefined ||
    process.env.LIFEBOAT_CONFIG !== undefined ||
    ['lifeboat.config.json', path.join('.data', 'lifeboat.config.json')].some((f) => fs.existsSync(f));
  return found ? load.localConfig().localConfig(flags) : undefined;
}

export const command: Command = {
  name: 'schedule create',
  summary: 'run a runbook on a Temporal Schedule (cron or interval); never two runs at once',
  usage:
    '<runbook> --target <name> (--cron <expr> | --every <duration>) [--id <scheduleId>] [--input <json|@file>] [--timezone <zone>]',
  examples: [
    "lifeboat schedule create fullBackup --target demo-storage --cron '0 2 * * *'",
    'lifeboat schedule create incrementalBackup --target demo-storage --every 15m --id storage-incremental',
    `lifeboat schedule create verifyBackup --target demo-storage --cron @weekly --input '{"backupId": "all"}'`,
  ],
  options: {
    target: { type: 'string', value: 'name', description: 'a target from the worker config' },
    cron: {
      type: 'string',
      value: 'expr',
      description: "5-field cron 'min hour dom month dow' or @hourly/@daily/@weekly/@monthly/@yearly",
    },
    every: { type: 'string', value: 'duration', description: 'an interval: 90s, 15m, 1h, 1d, 1h30m' },
    id: {
      type: 'string',
      value: 'scheduleId',
      description: 'the schedule id (default: <runbook>-<target>)',
    },
    input: { type: 'string', value: 'json|@file', description: 'further input fields as a JSON object' },
    timezone: { type: 'string', value: 'zone', description: 'IANA time zone of --cron (default UTC)' },
    ...CONFIG_OPTION,
    ...SERVER_OPTIONS,
  },
  positionals: ['runbook'],
  server: true,
  async run(ctx) {
    const meta = requireRunbook(ctx.positionals[0]);
    const target = meta.targetless
      ? (ctx.values.target as string | undefined)
      : requireFlag(ctx, 'target', 'name the target the schedule acts on');
    const cron = ctx.values.cron as string | undefined;
    const every = ctx.values.every as string | undefined;
    if ((cron === undefined) === (every === undefined))
      throw badInput('give exactly one of --cron <expr> or --every <duration>');
    const when: ScheduleWhen = cron !== undefined ? { cron } : { every: every! };
    const scheduleId = ctx.values.id as string | undefined;
    if (scheduleId !== undefined && scheduleId.trim() === '')
      throw badInput('--id must not be empty (default: <runbook>-<target>)');
    const input = parseInputFlag(ctx.values.input as string | undefined);
    const timezone = ctx.values.timezone as string | undefined;
    const { createSchedule, missingSections, requireTarget, scheduleSpec, scheduledInput } = load.schedules();
    // Everything is checked before the server is asked: runbook, input, spec, target.
    const full = scheduledInput(meta, target, input);
    scheduleSpec(when, timezone);
    const config = configIfPresent(ctx.values as { config?: string });
    if (target === undefined) {
      // A fleet's targets are chosen when it runs (selectFleetTargets), from the registry of that day.
    } else if (config) {
      // A target an agent holds: the sections it announced.
      const held = config.targets[target]
        ? undefined
        : (await load.agents().readRegistry(config)).targets.find(
            (t) => t.target === target && t.agent !== 'control-plane',
          );
      const missing = held
        ? meta.requires.filter((s) => !held.sections.includes(s))
        : missingSections(requireTarget(config, target), meta.requires);
      if (missing.length > 0)
        throw badInput(
          `target '${target}' has no ${missing.map((s) => `'${s}'`).join(', ')} section in the worker config; ${meta.name} needs ${missing.length > 1 ? 'them' : 'it'}`,
        );
    } else {
      ctx.err(
        `lifeboat: no worker config here (--config or LIFEBOAT_CONFIG): target '${target}' not checked; a wrong one fails every scheduled run`,
      );
    }
    const client = await ctx.connect();
    const handle = await createSchedule(client, {
      scheduleId,
      runbook: meta.name,
      target,
      input,
      when,
      timezone,
      taskQueue: ctx.taskQueue,
    });
    const description = await handle.describe();
    ctx.out(handle.scheduleId);
    const next = description.info.nextActionTimes[0];
    ctx.err(
      `lifeboat: scheduled ${meta.name} on ${target ?? meta.targetless!(full)}${next ? `; next run ${next.toISOString()}` : ''} (task queue '${ctx.taskQueue}')`,
    );
    return 0;
  },
};
