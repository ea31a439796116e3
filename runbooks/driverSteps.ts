/** Steps the driver runbooks share: the store-call timeouts and "roll back, then check the device". */
import type { RunbookRun } from '../workflows/engine';

/** A pnputil or driver-store call: may export or install for a long time, heartbeating. */
export const STORE_CALL = { startToCloseTimeout: '2 hours', heartbeatTimeout: '30 seconds' } as const;

/**
 * Installs the driver kept in a pre-update backup and checks that the device uses it and reports
 * problem code 0; a device that does not STOPs at `verifyStep` with `restoreHint` as the way on.
 */
export async function rollBackAndVerify(
  run: RunbookRun,
  device: string,
  folder: string,
  opts: { verifyStep: string; restoreHint: string; onlyIfChanged?: boolean },
) {
  const target = run.target.name;
  const rollback = await run.step(
    'rollbackDriver',
    'rollbackDriver',
    [target, device, folder, opts.onlyIfChanged ? { onlyIfChanged: true } : {}],
    STORE_CALL,
  );
  run.fact('rollback', rollback);
  const check = await run.step(
    opts.verifyStep,
    'checkDriverDevice',
    [
      target,
      device,
      {
        settle: true,
        require: true,
        expectDriver: rollback.publishedNames,
        instruction: `the rollback from ${folder} did not make it work; ${opts.restoreHint}`,
      },
    ],
    STORE_CALL,
  );
  return { rollback, device: check.device };
}
