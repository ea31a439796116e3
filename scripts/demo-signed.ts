/**
 * The demo of signed approvals (`npm run up`): target `demo-signed`, a store like demo-store whose
 * restore gate must be approved with a signature by a member of group `demo-approvers`. Its demo
 * identities are `dana` (in the group) and `erin` (listed, not in the group), with key pairs made
 * here once, protected by the passphrase the README gives. The quick start's demo-store stays
 * unsigned.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';

/** The demo keys' passphrase: a demo's, printed in the README; never a real key's. */
export const DEMO_KEY_PASSPHRASE = 'lifeboat-demo';
export const SIGNED_DEMO = 'demo-signed';
const IDENTITIES = ['dana', 'erin'] as const;

/** A passphrase-protected key pair `<name>.sec.asc` / `<name>.pub.asc` in `dir`, made once. */
async function approverKeys(dir: string, name: string): Promise<void> {
  const sec = path.join(dir, `${name}.sec.asc`);
  const pub = path.join(dir, `${name}.pub.asc`);
  if (fs.existsSync(sec) && fs.existsSync(pub)) return;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: `${name} (Lifeboat demo approver)` }],
    passphrase: DEMO_KEY_PASSPHRASE,
    format: 'armored',
  });
  fs.writeFileSync(pub, publicKey);
  fs.writeFileSync(sec, privateKey, { mode: 0o600 });
}

/** Adds demo-signed, its identities and group to a demo config that lacks them; returns what it added. */
export async function addSignedDemo(
  config: { targets: Record<string, unknown> } & Record<string, unknown>,
  demoDir: string,
  /** demo-data's store writer (passed in: demo-data imports this module). */
  writeStore: (dir: string) => void,
): Promise<string[]> {
  if (config.targets[SIGNED_DEMO] !== undefined) return [];
  const keysDir = path.join(demoDir, 'approver-keys');
  for (const name of IDENTITIES) await approverKeys(keysDir, name);
  writeStore(path.join(demoDir, 'signed-store'));
  const identities = (config.identities ??= {}) as Record<string, unknown>;
  for (const name of IDENTITIES) identities[name] ??= { keys: [`demo/approver-keys/${name}.pub.asc`] };
  const groups = (config.groups ??= {}) as Record<string, unknown>;
  groups['demo-approvers'] ??= ['dana'];
  config.targets[SIGNED_DEMO] = {
    description: 'Demo store whose restore must be approved with a signature (dana, group demo-approvers)',
    store: {
      primary: 'demo/signed-store/graph.json',
      backups: 'demo/signed-store/backups',
      quarantine: 'demo/signed-store/quarantine',
    },
    gates: { restore: { approvers: ['group:demo-approvers'], quorum: 1, signed: true } },
  };
  return [SIGNED_DEMO];
}
