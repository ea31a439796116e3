/**
 * Drill sections for demo targets and tests (drDrill): an OpenPGP key pair that signs drill proofs,
 * the `drill` section itself, and the commands a drill of the panic demo (scripts/demo-panic.ts)
 * runs in its sandbox instead of the target's own, which act on production.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';

export interface DrillKeys {
  signingKey: string;
  publicKey: string;
}

/** Generates a drill signing key pair under `dir` (the private key readable by its owner only). */
export async function writeDrillKeys(dir: string, passphrase?: string): Promise<DrillKeys> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'Lifeboat drill proofs' }],
    passphrase,
    format: 'armored',
  });
  const keys = { signingKey: path.join(dir, 'drill.sec.asc'), publicKey: path.join(dir, 'drill.pub.asc') };
  fs.writeFileSync(keys.signingKey, privateKey, { mode: 0o600 });
  fs.writeFileSync(keys.publicKey, publicKey);
  return keys;
}

/** A target's `drill` section: sandboxes and proofs under `directory` (outside every production path). */
export function drillSection(
  directory: string,
  keys: DrillKeys,
  commands: Record<string, { argv: string[]; timeoutSeconds?: number }> = {},
  passphraseEnv?: string,
): Record<string, unknown> {
  return {
    directory,
    signingKey: keys.signingKey,
    publicKey: keys.publicKey,
    ...(passphraseEnv ? { signingKeyPassphraseEnv: passphraseEnv } : {}),
    commands,
  };
}

/**
 * The panic demo's commands for its drills: the same service script, told to act on the demo's
 * copy in the sandbox (`{sandbox}/fs/<demo dir>`), so `rebuildNonceStore` rebuilds the sandbox's
 * nonce store from the sandbox's ledger and `services.log` is written there.
 */
export function panicDrillCommands(
  demoDir: string,
): Record<string, { argv: string[]; timeoutSeconds: number }> {
  const script = path.join(demoDir, 'service.js');
  const inSandbox = path.join('{sandbox}', 'fs', path.resolve(demoDir));
  const command = (action: string) => ({
    argv: [process.execPath, script, action, inSandbox],
    timeoutSeconds: 30,
  });
  return { stop: command('stop'), start: command('start'), rebuildNonceStore: command('rebuildNonceStore') };
}
