import type { DrillRecord } from '../../common/drill';
import { CONFIG_OPTION, JSON_OPTION, type Command } from '../command';
import { load } from '../lazy';

/** A duration for people: `42s`, `3m 05s`, `2h 07m`, `3d 04h`. */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${two(Math.floor((s % 86400) / 3600))}h`;
}

/** Whether `achievedSeconds` is within an objective in minutes (undefined when either is unknown). */
export function objectiveMet(achievedSeconds?: number, objectiveMinutes?: number): boolean | undefined {
  if (achievedSeconds === undefined || objectiveMinutes === undefined) return undefined;
  return achievedSeconds <= objectiveMinutes * 60;
}

/** `3m 05s (objective 30m, met)`, `3m 05s (no objective)`, `not measured`. */
export function againstObjective(achievedSeconds?: number, objectiveMinutes?: number): string {
  if (achievedSeconds === undefined)
    return objectiveMinutes === undefined ? 'not measured' : `not measured (objective ${objectiveMinutes}m)`;
  if (objectiveMinutes === undefined) return `${formatSeconds(achievedSeconds)} (no objective)`;
  const met = objectiveMet(achievedSeconds, objectiveMinutes) ? 'met' : 'MISSED';
  return `${formatSeconds(achievedSeconds)} (objective ${objectiveMinutes}m, ${met})`;
}

function asJson(d: DrillRecord) {
  return {
    ...d,
    rtoMet: objectiveMet(d.rtoSeconds, d.rtoObjectiveMinutes),
    rpoMet: objectiveMet(d.rpoSeconds, d.rpoObjectiveMinutes),
  };
}

export const command: Command = {
  name: 'drills list',
  summary: 'list drills from the catalog, newest first, with pass/fail and RTO/RPO against objective',
  usage: '[--target <name>] [--json] [--config <file>]',
  examples: ['lifeboat drills list', 'lifeboat drills list --target storage --json'],
  options: {
    target: { type: 'string', value: 'name', description: 'only this target' },
    ...JSON_OPTION,
    ...CONFIG_OPTION,
  },
  positionals: [],
  server: false,
  async run(ctx) {
    const { openRecords } = load.localConfig();
    const { records, target, close } = await openRecords(
      ctx.values as { config?: string; target?: string },
      'no drill or backup has run yet?',
    );
    try {
      const drills = await records.listDrills(target);
      if (ctx.values.json) {
        ctx.out(JSON.stringify(drills.map(asJson), null, 2));
        return 0;
      }
      if (drills.length === 0) {
        ctx.out(target === undefined ? 'no drills' : `no drills of target '${target}'`);
        return 0;
      }
      for (const d of drills) {
        ctx.out(
          `${d.drillId}  ${d.target}  ${d.scenario}  ${d.passed ? 'PASS' : 'FAIL'}  finished ${d.finishedAt}`,
        );
        ctx.out(`    RTO ${againstObjective(d.rtoSeconds, d.rtoObjectiveMinutes)}`);
        ctx.out(`    RPO ${againstObjective(d.rpoSeconds, d.rpoObjectiveMinutes)}`);
        ctx.out(`    proof ${d.proofPath}`);
      }
      return 0;
    } finally {
      await close();
    }
  },
};
