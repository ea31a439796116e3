/**
 * A target's `drill` section (drDrill): where its sandboxes and proofs live (never inside a
 * production path of the target), the keys that sign and verify drill proofs, and the commands a
 * drill runs instead of the target's own.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { commands } from './backup';
import { envVar, filePath, overlaps, section, type CrossCheck } from './sections';
import type { TargetConfig } from './targets';

export const drill = (base: string) =>
  section(
    'must be an object like {"directory": "/srv/drills", "signingKey": "keys/drill.sec.asc", "publicKey": "keys/drill.pub.asc"}',
    {
      /** Sandboxes and drill proofs live here; never inside a production path of the target. */
      directory: filePath(base),
      /** Armored OpenPGP private key that signs drill proofs, and its passphrase's environment variable. */
      signingKey: filePath(base),
      signingKeyPassphraseEnv: envVar('must name an environment variable').optional(),
      /** Armored public key of the signing key: `lifeboat proof verify` trusts the keys named here. */
      publicKey: filePath(base),
      /**
       * Commands run inside a drill instead of the target's own (which act on production). `{sandbox}`
       * in an argument is replaced by the drill's sandbox folder. A command not named here is not run.
       */
      commands,
    },
  );
export type DrillSettings = z.output<ReturnType<typeof drill>>;

/** Folders a drill must stay out of: every production path the target names. */
export function productionPaths(target: TargetConfig): string[] {
  const folderOf = (file?: string) => file && path.dirname(file);
  const paths = [
    target.root,
    target.repository,
    target.offsite,
    folderOf(target.store?.primary),
    target.store?.backups,
    folderOf(target.configFile?.file),
    target.configFile?.backups,
    folderOf(target.auditChain?.file),
    target.auditChain?.backups,
    folderOf(target.panic?.flag),
    folderOf(target.panic?.ledger),
    target.panic?.ledgerBackups,
    target.panic?.proofs,
    target.driverStore?.store,
    target.driverStore?.backups,
    ...Object.values(target.restoreInto ?? {}),
  ];
  return [...new Set(paths.filter((p): p is string => typeof p === 'string'))];
}

/** The drill directory apart from every production path of `target` (its settings that parsed). */
export function checkDrillApart(directory: string, target: TargetConfig, at: CrossCheck): void {
  for (const prod of productionPaths(target))
    if (overlaps(directory, prod))
      at.report(
        ['drill', 'directory'],
        `(${directory}) overlaps the production path ${prod}; a drill must run outside everything it protects`,
      );
}
