/**
 * One Lifeboat measurement, in its own process so that its peak RSS can be read. The benchmark runs
 * it compiled, as production runs Lifeboat (`npm run build` puts it in dist/bench/):
 *
 *   MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 dist/bench/lifeboat-step.js <step> <dataRoot> <repDir>
 *
 * Calls the activities directly (no Temporal): they are plain async functions. Steps:
 *
 * - full: writeBackup (full), then verifyBackup of it, as the fullBackup runbook does;
 * - nochange, incremental: writeBackup (incremental; nothing changed, or 1% changed);
 * - verify: verifyBackup of the full backup;
 * - restore: stageRestore of the full backup into a restoreInto folder;
 * - restore-checked: what the restore runbook runs into a restoreInto folder, gate aside:
 *   adoptRepository (only when the catalog is empty), inspectRestore, planRestore, stageRestore,
 *   verifyRestoredRoot.
 *
 * Prints one line `BENCH-RESULT {"phases": [...]}`: per activity call its wall seconds, its CPU
 * seconds (user and system, from getrusage, the counters GNU time reads) and the process's peak RSS
 * so far (KiB). The passphrase comes from LIFEBOAT_BENCH_PASSPHRASE.
 */
import { createStorageActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { parseConfig } from '../config';
import {
  FULL_ID,
  INCREMENTAL_ID,
  LIFEBOAT_STEPS,
  NO_CHANGE_ID,
  TARGET,
  repLayout,
  type LifeboatStep,
} from './layout';

export interface Phase {
  name: string;
  seconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** The process's peak RSS when the call returned (KiB): the high-water mark since it started. */
  maxRssKiB: number;
  result: unknown;
}

/** Keeps a result short: lists become their length. */
function brief(result: unknown): unknown {
  if (!result || typeof result !== 'object') return result;
  return Object.fromEntries(
    Object.entries(result).map(([k, v]) => [k, Array.isArray(v) ? v.length : v] as const),
  );
}

async function main(): Promise<void> {
  const [step, root, repDir] = process.argv.slice(2);
  if (!step || !root || !repDir || !(LIFEBOAT_STEPS as readonly string[]).includes(step))
    throw new Error(`usage: lifeboat-step.js <${LIFEBOAT_STEPS.join('|')}> <dataRoot> <repDir>`);
  const paths = repLayout(repDir);
  const config = parseConfig(
    {
      auditLedger: 'audit.sqlite',
      targets: {
        [TARGET]: {
          root,
          repository: paths.lifeboatRepo,
          encryption: { passphraseEnv: 'LIFEBOAT_BENCH_PASSPHRASE' },
          restoreInto: { out: paths.restoreDir },
        },
      },
    },
    paths.lifeboatConfig,
  );
  const acts = createStorageActivities(config, new Catalog(config.catalog));
  const phases: Phase[] = [];
  const measure = async <T>(name: string, call: () => Promise<T>): Promise<T> => {
    // A turn of the event loop between activities, as under Temporal (an activity's result goes to
    // the server and the next one comes back): what an activity leaves for the next turn (the full
    // collection after a large one, youngGc.ts) runs before the next one starts, as in production.
    await new Promise((resolve) => setImmediate(resolve));
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await call();
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    phases.push({
      name,
      seconds,
      userSeconds: used.user / 1e6,
      systemSeconds: used.system / 1e6,
      maxRssKiB: process.resourceUsage().maxRSS,
      result: brief(result),
    });
    return result;
  };
  const backup = (backupId: string, kind: 'full' | 'incremental') =>
    measure('writeBackup', () => acts.writeBackup(TARGET, { backupId, kind, createdBy: 'bench' }));
  const tag = `bench-${process.pid}`;

  switch (step as LifeboatStep) {
    case 'full':
      await backup(FULL_ID, 'full');
      await measure('verifyBackup', () => acts.verifyBackup(TARGET, FULL_ID, { require: true }));
      break;
    case 'nochange':
      await backup(NO_CHANGE_ID, 'incremental');
      break;
    case 'incremental':
      await backup(INCREMENTAL_ID, 'incremental');
      break;
    case 'verify':
      await measure('verifyBackup', () => acts.verifyBackup(TARGET, FULL_ID, { require: true }));
      break;
    case 'restore':
      await measure('stageRestore', () => acts.stageRestore(TARGET, FULL_ID, tag, { into: 'out' }));
      break;
    case 'restore-checked': {
      await measure('adoptRepository', () =>
        acts.adoptRepository(TARGET, { onlyWhenEmpty: true, requireOne: true, refusalStops: true }),
      );
      const backup = await measure('inspectRestore', () => acts.inspectRestore(TARGET, FULL_ID));
      await measure('planRestore', () => acts.planRestore(TARGET, backup.backupId, { into: 'out' }));
      const staged = await measure('stageRestore', () =>
        acts.stageRestore(TARGET, backup.backupId, tag, { into: 'out' }),
      );
      await measure('verifyRestoredRoot', () =>
        acts.verifyRestoredRoot(TARGET, backup.backupId, { dir: staged.staging }),
      );
      break;
    }
  }
  process.stdout.write(`BENCH-RESULT ${JSON.stringify({ phases })}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`lifeboat-step: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
