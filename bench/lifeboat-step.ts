/**
 * One Lifeboat measurement, in its own process so that its peak RSS can be read:
 *
 *   node --import tsx bench/lifeboat-step.ts <full|incremental|verify|restore> <workDir>
 *
 * Calls the backup activities directly (no Temporal): they are plain async functions. Prints one
 * line `BENCH-RESULT {"seconds": ..., "result": ...}` with the time spent in the activity call.
 * The passphrase comes from LIFEBOAT_BENCH_PASSPHRASE.
 */
import * as path from 'node:path';
import { createStorageActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { parseConfig } from '../config';
import { FULL_ID, INCREMENTAL_ID, TARGET, layout } from './layout';

async function main(): Promise<void> {
  const [step, workDir] = process.argv.slice(2);
  if (!step || !workDir)
    throw new Error('usage: lifeboat-step.ts <full|incremental|verify|restore> <workDir>');
  const paths = layout(workDir);
  const config = parseConfig(
    {
      auditLedger: 'audit.sqlite',
      targets: {
        [TARGET]: {
          root: paths.root,
          repository: paths.lifeboatRepo,
          encryption: { passphraseEnv: 'LIFEBOAT_BENCH_PASSPHRASE' },
          restoreInto: { out: paths.restoreDir },
        },
      },
    },
    path.join(workDir, 'lifeboat.config.json'),
  );
  const acts = createStorageActivities(config, new Catalog(config.catalog));
  const started = performance.now();
  let result: unknown;
  switch (step) {
    case 'full':
      result = await acts.writeBackup(TARGET, { backupId: FULL_ID, kind: 'full', createdBy: 'bench' });
      break;
    case 'incremental':
      result = await acts.writeBackup(TARGET, {
        backupId: INCREMENTAL_ID,
        kind: 'incremental',
        createdBy: 'bench',
      });
      break;
    case 'verify':
      result = await acts.verifyBackup(TARGET, FULL_ID, { require: true });
      break;
    case 'restore':
      result = await acts.stageRestore(TARGET, FULL_ID, TARGET, { into: 'out' });
      break;
    default:
      throw new Error(`unknown step '${step}'`);
  }
  const seconds = (performance.now() - started) / 1000;
  if (result && typeof result === 'object' && 'databases' in result && Array.isArray(result.databases))
    result = { ...result, databases: result.databases.length };
  process.stdout.write(`BENCH-RESULT ${JSON.stringify({ seconds, result })}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`lifeboat-step: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
