/**
 * A target's `drill` section (drDrill): where its sandboxes and proofs live (never inside a
 * production path of the target), the keys that sign and verify drill proofs, and the commands a
 * drill runs instead of the target's own.
 */
import type { CommandSettings, TargetConfig } from './index';
import { parseCommands } from './backup';
import { isObject, overlaps, parsePath, unknownKeys } from './sections';
import * as path from 'node:path';

export interface DrillSettings {
  /** Sandboxes and drill proofs live here; never inside a production path of the target. */
  directory: string;
  /** Armored OpenPGP private key that signs drill proofs, and its passphrase's environment variable. */
  signingKey: string;
  signingKeyPassphraseEnv?: string;
  /** Armored public key of the signing key: `lifeboat proof verify` trusts the keys named here. */
  publicKey: string;
  /**
   * Commands run inside a drill instead of the target's own (which act on production). `{sandbox}`
   * in an argument is replaced by the drill's sandbox folder. A command not named here is not run.
   */
  commands: Record<string, CommandSettings>;
}

/** Folders a drill must stay out of: every production path the target names. */
export function productionPaths(target: TargetConfig): string[] {
  const paths = [
    target.root,
    target.repository,
    target.offsite,
    target.store && path.dirname(target.store.primary),
    target.store?.backups,
    target.configFile && path.dirname(target.configFile.file),
    target.configFile?.backups,
    target.auditChain && path.dirname(target.auditChain.file),
    target.auditChain?.backups,
    target.panic && path.dirname(target.panic.flag),
    target.panic && path.dirname(target.panic.ledger),
    target.panic?.ledgerBackups,
    target.panic?.proofs,
    target.driverStore?.store,
    target.driverStore?.backups,
    ...Object.values(target.restoreInto),
  ];
  return [...new Set(paths.filter((p): p is string => typeof p === 'string'))];
}

export function parseDrill(
  where: string,
  raw: unknown,
  target: TargetConfig,
  base: string,
  problems: string[],
): DrillSettings | undefined {
  if (!isObject(raw)) {
    problems.push(
      `${where} must be an object like {"directory": "/srv/drills", "signingKey": "keys/drill.sec.asc", "publicKey": "keys/drill.pub.asc"}`,
    );
    return undefined;
  }
  unknownKeys(
    where,
    raw,
    ['directory', 'signingKey', 'signingKeyPassphraseEnv', 'publicKey', 'commands'],
    problems,
  );
  const directory = parsePath(`${where}.directory`, raw.directory, base, problems);
  const signingKey = parsePath(`${where}.signingKey`, raw.signingKey, base, problems);
  const publicKey = parsePath(`${where}.publicKey`, raw.publicKey, base, problems);
  let signingKeyPassphraseEnv: string | undefined;
  if (raw.signingKeyPassphraseEnv !== undefined) {
    if (
      typeof raw.signingKeyPassphraseEnv === 'string' &&
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(raw.signingKeyPassphraseEnv)
    )
      signingKeyPassphraseEnv = raw.signingKeyPassphraseEnv;
    else problems.push(`${where}.signingKeyPassphraseEnv must name an environment variable`);
  }
  const commands =
    raw.commands === undefined ? {} : parseCommands(`${where}.commands`, raw.commands, problems);
  if (directory) {
    for (const prod of productionPaths(target)) {
      if (overlaps(directory, prod)) {
        problems.push(
          `${where}.directory (${directory}) overlaps the production path ${prod}; a drill must run outside everything it protects`,
        );
      }
    }
  }
  if (!directory || !signingKey || !publicKey) return undefined;
  return { directory, signingKey, signingKeyPassphraseEnv, publicKey, commands };
}
