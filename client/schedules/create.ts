/**
 * Creating a schedule: the input every scheduled run gets, the target it names, and the Temporal
 * Schedule itself (overlap policy SKIP, memo and search attributes naming runbook and target).
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleHandle,
} from '@temporalio/client';
import {
  SA_AWAITING_HUMAN,
  SA_RUNBOOK_NAME,
  SA_RUNBOOK_STATE,
  SA_RUNBOOK_TARGET,
} from '../../common/constants';
import type { RunbookMeta } from '../../common/runbook';
import { TARGET_FIELD, validateInput } from '../../common/schema';
import { staticDetailsOf, staticSummaryOf } from '../../common/runDetails';
import { targetHasSection, type LifeboatConfig, type TargetConfig } from '../../config';
import { CliError, badInput, requireRunbook } from '../runs';
import { scheduleSpec, type ScheduleWhen } from './spec';

/**
 * The input every scheduled run gets: `{target, ...input}`, with `onBusy: 'skip'` for runbooks that
 * take the target's lock (unless the input says otherwise). Validated against the runbook's schema.
 */
export function scheduledInput(
  meta: RunbookMeta,
  target: string | undefined,
  input: Record<string, unknown>,
): Record<string, unknown> {
  if (meta.targetless) {
    // A fleet run names its targets in its input (targets or selector): no --target.
    if (target !== undefined)
      throw badInput(`${meta.name} takes no --target: it names its targets in --input`);
    const problems = validateInput(meta.name, meta.input, input);
    if (problems.length > 0) throw badInput(problems.join('\n'));
    return input;
  }
  if (target === undefined) throw badInput(`--target is required: name the target ${meta.name} acts on`);
  if (input.target !== undefined && input.target !== target)
    throw badInput(`--input names target '${String(input.target)}' but --target is '${target}'; give one`);
  const full: Record<string, unknown> = { ...input, target };
  if ('onBusy' in meta.input && full.onBusy === undefined) full.onBusy = 'skip';
  const problems = validateInput(meta.name, { target: TARGET_FIELD, ...meta.input }, full);
  if (problems.length > 0) throw badInput(problems.join('\n'));
  return full;
}

/** The sections `sections` names that the target lacks. */
export function missingSections(target: TargetConfig, sections: string[]): string[] {
  return [...new Set(sections)].filter((s) => !targetHasSection(target, s));
}

export function requireTarget(config: LifeboatConfig, name: string): TargetConfig {
  const target = config.targets[name];
  if (!target)
    throw badInput(
      `unknown target '${name}'; the config has: ${Object.keys(config.targets).sort().join(', ')}`,
    );
  return target;
}

/** What Lifeboat keeps in a schedule's memo. */
export interface ScheduleMemo {
  runbook: string;
  target: string;
  /** As given: `cron 0 2 * * *` or `every 15m`. */
  spec: string;
}

/** A schedule with that id exists already (bad input, exit 2). */
export class ScheduleExistsError extends CliError {
  constructor(readonly scheduleId: string) {
    super(`schedule '${scheduleId}' exists already; delete it or choose --id`, 2);
  }
}

export interface CreateScheduleOptions {
  scheduleId?: string;
  runbook: string;
  /** Absent for a targetless runbook (a fleet run): its label names what it acts on. */
  target?: string;
  input?: Record<string, unknown>;
  when: ScheduleWhen;
  timezone?: string;
  taskQueue: string;
  note?: string;
}

export const scheduleWorkflowIdPrefix = (runbook: string, target: string) =>
  `${runbook}-${target.replace(/^fleet:/, '').replace(/[^A-Za-z0-9._-]+/g, '_')}`;

/** Validates everything locally, then creates the schedule. Bad input of any kind: CliError exit 2. */
export async function createSchedule(
  client: Client,
  options: CreateScheduleOptions,
): Promise<ScheduleHandle> {
  const meta = requireRunbook(options.runbook);
  const input = scheduledInput(meta, options.target, options.input ?? {});
  const target = options.target ?? meta.targetless!(input);
  const { spec, text } = scheduleSpec(options.when, options.timezone);
  const scheduleId = options.scheduleId ?? scheduleWorkflowIdPrefix(meta.name, target);
  const memo: ScheduleMemo = { runbook: meta.name, target, spec: text };
  try {
    return await client.schedule.create({
      scheduleId,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: meta.name,
        workflowId: scheduleWorkflowIdPrefix(meta.name, target),
        taskQueue: options.taskQueue,
        args: [input],
        staticSummary: `${staticSummaryOf(meta, target)} (schedule ${scheduleId})`,
        staticDetails: staticDetailsOf(meta),
        typedSearchAttributes: [
          { key: SA_RUNBOOK_NAME, value: meta.name },
          { key: SA_RUNBOOK_TARGET, value: target },
          { key: SA_RUNBOOK_STATE, value: 'running' },
          { key: SA_AWAITING_HUMAN, value: false },
        ],
      },
      // Why SKIP: a drill or backup never runs twice at once; a time that falls during a run is dropped.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { lifeboat: memo },
      typedSearchAttributes: [
        { key: SA_RUNBOOK_NAME, value: meta.name },
        { key: SA_RUNBOOK_TARGET, value: target },
      ],
      state: { note: options.note ?? `created by lifeboat: ${meta.name} on ${target}, ${text}` },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new ScheduleExistsError(scheduleId);
    // The SDK reports the server's "Invalid schedule spec" as a TypeError carrying its reason.
    if (err instanceof TypeError) {
      const flag =
        options.timezone !== undefined && /time ?zone/i.test(err.message)
          ? `--timezone '${options.timezone}'`
          : 'cron' in options.when
            ? `--cron '${options.when.cron}'`
            : `--every '${options.when.every}'`;
      throw badInput(`${flag} was refused by the server: ${err.message}`);
    }
    throw err;
  }
}
