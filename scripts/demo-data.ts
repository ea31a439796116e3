/**
 * Builds store targets on disk in the layout of procedure 002: a primary JSON file with its
 * `.meta` sidecar and timestamped backups. `npm run up` uses it for the demo target; the tests use
 * it for their fixtures.
 */
import { addSignedDemo } from './demo-signed';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { writeChainDemo } from './demo-chain';
import { writeConfigDemo } from './demo-config';
import { writeMigrationDemo } from './demo-migration';
import { writeTokensDemo } from './demo-tokens';
import { driversDrillCommands, writeDriversDemo } from './demo-drivers';
import { drillSection, panicDrillCommands, writeDrillKeys, type DrillKeys } from './demo-drill';
import { runtimeDrillCommands, writePanicDemo, writeRuntimeDemo } from './demo-panic';
import { writeStorageRoot } from './storage-root';

export type FileState = 'intact' | 'corrupt' | 'no-meta' | 'unparsable';

export interface StoreFixture {
  primary: string;
  backups: string;
  quarantine: string;
  /** Bytes of every file written, by path, as they were written. */
  contents: Record<string, Buffer>;
}

export function graphJson(version: number): Buffer {
  const nodes: Record<string, unknown> = {};
  for (let i = 0; i < 5 + version; i += 1) nodes[`node${i}`] = { label: `Node ${i}`, version };
  const edges = Object.keys(nodes)
    .slice(1)
    .map((id, i) => ({ from: `node${i}`, to: id }));
  return Buffer.from(`${JSON.stringify({ nodes, edges }, null, 2)}\n`);
}

/** A sidecar for `data`, with the counts of `countsOf` (the good content). */
function metaFor(data: Buffer, countsOf: Buffer, timestamp: string): string {
  const parsed = JSON.parse(countsOf.toString('utf8')) as { nodes: object; edges: unknown[] };
  return `${JSON.stringify(
    {
      timestamp,
      checksum: createHash('sha256').update(data).digest('hex'),
      node_count: Object.keys(parsed.nodes).length,
      edge_count: parsed.edges.length,
      graph_version: '1.0',
      saved_by: 'Lifeboat demo',
    },
    null,
    2,
  )}\n`;
}

/** Writes `file` and its sidecar `metaFile` in the given state. */
function writeStoreFile(
  file: string,
  metaFile: string,
  state: FileState,
  version: number,
  fixture: StoreFixture,
): void {
  const good = graphJson(version);
  let bytes = good;
  if (state === 'corrupt')
    bytes = Buffer.concat([good.subarray(0, good.length - 20), Buffer.from('"corrupted": true}\n')]);
  if (state === 'unparsable') bytes = good.subarray(0, Math.floor(good.length / 2));
  fs.writeFileSync(file, bytes);
  fixture.contents[file] = bytes;
  if (state === 'no-meta') return;
  // A corrupt file keeps the sidecar of the good bytes: the checksum must catch it. An unparsable
  // one was saved broken (its checksum matches): parsing must catch it.
  const meta = metaFor(
    state === 'unparsable' ? bytes : good,
    good,
    new Date(Date.UTC(2026, 0, 1 + version)).toISOString(),
  );
  fs.writeFileSync(metaFile, meta);
  fixture.contents[metaFile] = Buffer.from(meta);
}

/**
 * Creates a store under `dir`: `graph.json` (+ `.meta`) in `primary` state and one backup per entry
 * of `backups`, oldest first, named graph_2026MMDD_HHMMSS.json.
 */
export function writeStoreFixture(dir: string, primary: FileState, backups: FileState[]): StoreFixture {
  const fixture: StoreFixture = {
    primary: path.join(dir, 'graph.json'),
    backups: path.join(dir, 'backups'),
    quarantine: path.join(dir, 'quarantine'),
    contents: {},
  };
  fs.mkdirSync(fixture.backups, { recursive: true });
  backups.forEach((state, i) => {
    const stamp = `202611${String(10 + i).padStart(2, '0')}_0${i}3000`;
    writeStoreFile(
      path.join(fixture.backups, `graph_${stamp}.json`),
      path.join(fixture.backups, `graph_${stamp}.meta`),
      state,
      i + 1,
      fixture,
    );
  });
  writeStoreFile(fixture.primary, `${fixture.primary}.meta`, primary, backups.length + 1, fixture);
  return fixture;
}

/**
 * The demo: a store with a corrupt primary, a corrupt newest backup and a valid older one
 * (corruptedStoreRecovery), and a storage root with SQLite databases whose backups are encrypted
 * to an OpenPGP key pair generated here (fullBackup, incrementalBackup, verifyBackup, restore).
 */
/** The recovery demo targets (issue 4), each written into its own folder under `<data>/demo/`. */
function recoveryDemos(demoDir: string, uiUrl: string): Record<string, () => Record<string, unknown>> {
  return {
    'demo-config': () => writeConfigDemo(path.join(demoDir, 'config')),
    'demo-chain': () => writeChainDemo(path.join(demoDir, 'chain')),
    'demo-panic': () => writePanicDemo(path.join(demoDir, 'panic'), { healthUrl: uiUrl }),
    'demo-drivers': () => writeDriversDemo(path.join(demoDir, 'drivers'), { recoverySets: true }),
    'demo-tokens': () => writeTokensDemo(path.join(demoDir, 'tokens')),
    'demo-runtime': () =>
      writeRuntimeDemo(path.join(demoDir, 'runtime'), { encryption: DEMO_ENCRYPTION, healthUrl: uiUrl }),
    'demo-migration': () => writeMigrationDemo(path.join(demoDir, 'migration'), DEMO_ENCRYPTION),
  };
}

/**
 * Writes the demo config and every demo target's files under `dataDir` (once). A demo config from
 * an earlier version (every target named `demo-…`) gets the demo targets it lacks; a config of the
 * operator's own is never touched.
 */
export async function writeDemo(
  dataDir: string,
  options: { uiUrl?: string } = {},
): Promise<{ configPath: string; created: boolean; added: string[] }> {
  const configPath = path.join(dataDir, 'lifeboat.config.json');
  const demoDir = path.join(dataDir, 'demo');
  let config: { targets: Record<string, unknown> } & Record<string, unknown>;
  let created = false;
  if (fs.existsSync(configPath)) {
    config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as typeof config;
    const names = Object.keys(config.targets ?? {});
    if (names.length === 0 || !names.every((n) => n.startsWith('demo-'))) {
      return { configPath, created: false, added: [] };
    }
  } else {
    config = await writeBackupDemos(demoDir);
    created = true;
  }
  const added: string[] = created ? [] : await upgradeBackupDemos(config, demoDir);
  for (const [name, write] of Object.entries(
    recoveryDemos(demoDir, options.uiUrl ?? 'http://127.0.0.1:8233/'),
  )) {
    if (config.targets[name] !== undefined) continue;
    config.targets[name] = write();
    added.push(name);
  }
  added.push(
    ...(await addSignedDemo(config, demoDir, (dir) => writeStoreFixture(dir, 'corrupt', ['intact']))),
  );
  // Drills of the demos run in demo/drills (outside every demo's production paths), signed by a
  // demo key pair; the panic, drivers and runtime demos' drills run their scripts on the sandbox.
  const drillable = [
    'demo-store',
    'demo-storage',
    'demo-config',
    'demo-chain',
    'demo-panic',
    'demo-drivers',
    'demo-runtime',
  ];
  let keys: DrillKeys | undefined;
  for (const name of drillable) {
    const target = config.targets[name] as Record<string, unknown> | undefined;
    if (!target || target.drill !== undefined) continue;
    keys ??= await drillKeysOnce(path.join(demoDir, 'keys'));
    const commands = drillCommandsOf(name, demoDir);
    target.drill = drillSection(path.join(demoDir, 'drills'), keys, commands);
    if (name === 'demo-storage' || name === 'demo-panic')
      target.objectives ??= { rtoMinutes: 30, rpoMinutes: 60 };
    if (!added.includes(name)) added.push(`${name} (drill)`);
  }
  if (created || added.length > 0) {
    fs.mkdirSync(dataDir, { recursive: true });
    const tmp = `${configPath}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`);
    fs.renameSync(tmp, configPath);
  }
  return { configPath, created, added };
}

/** The commands a demo's drills run instead of the target's own: on the sandbox, never production. */
function drillCommandsOf(
  name: string,
  demoDir: string,
): Record<string, { argv: string[]; timeoutSeconds?: number }> {
  if (name === 'demo-panic') return panicDrillCommands(path.join(demoDir, 'panic'));
  if (name === 'demo-drivers') return driversDrillCommands(path.join(demoDir, 'drivers'));
  if (name === 'demo-runtime') return runtimeDrillCommands(path.join(demoDir, 'runtime'));
  return {};
}

/** The demo's drill signing keys, generated on first use. */
async function drillKeysOnce(dir: string): Promise<DrillKeys> {
  const existing = {
    signingKey: path.join(dir, 'drill.sec.asc'),
    publicKey: path.join(dir, 'drill.pub.asc'),
  };
  if (fs.existsSync(existing.signingKey) && fs.existsSync(existing.publicKey)) return existing;
  return writeDrillKeys(dir);
}

/** An armored OpenPGP key pair `<name>.sec.asc` / `<name>.pub.asc` in `dir`: kept if both are there. */
export async function keyPairOnce(
  dir: string,
  name: string,
  userId: string,
): Promise<{ privateKey: string; publicKey: string; created: boolean }> {
  const files = {
    privateKey: path.join(dir, `${name}.sec.asc`),
    publicKey: path.join(dir, `${name}.pub.asc`),
  };
  const have = [files.privateKey, files.publicKey].filter((f) => fs.existsSync(f));
  if (have.length === 2) return { ...files, created: false };
  // One half without the other cannot be completed; a new pair would orphan what the half protects.
  if (have.length === 1)
    throw new Error(
      `${have[0]} exists without its other half; put the pair back (or move it aside) and start again`,
    );
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: userId }],
    format: 'armored',
  });
  fs.writeFileSync(files.publicKey, publicKey, { flag: 'wx' });
  fs.writeFileSync(files.privateKey, privateKey, { flag: 'wx', mode: 0o600 });
  return { ...files, created: true };
}

/** Whether a folder holds backup sidecars: a repository (or its offsite copy) from an earlier host. */
function holdsBackups(dir: string): boolean {
  return fs.existsSync(dir) && fs.readdirSync(dir).some((n) => n.endsWith('.json') && !n.startsWith('.'));
}

/** The demo's backup key pairs (encryption and signing), generated once and reused ever after. */
async function backupKeys(keys: string): Promise<void> {
  await keyPairOnce(keys, 'backup', 'Lifeboat demo backups');
  await keyPairOnce(keys, 'backup-signing', 'Lifeboat demo backup signing');
}

const DEMO_ENCRYPTION = {
  recipients: ['demo/keys/backup.pub.asc'],
  privateKeys: ['demo/keys/backup.sec.asc'],
  signingKey: 'demo/keys/backup-signing.sec.asc',
};

/** Lifeboat's own stores, backed up beside the demo and copied into the demo's offsite folder. */
const DEMO_SELF_BACKUP = {
  repository: 'demo/self-backups',
  offsite: 'demo/offsite/lifeboat-self',
  encryption: DEMO_ENCRYPTION,
  retention: { keepLast: 7 },
};

/** Where exportScope writes demo-storage's exports and importScope reads them. */
const DEMO_EXPORTS = { usb: 'demo/exports' };

/**
 * Brings a demo config of an earlier version up to date: backups are signed (encryption.signingKey)
 * and Lifeboat's own stores are backed up (selfBackup). Returns what it changed.
 */
async function upgradeBackupDemos(
  config: { targets: Record<string, unknown> } & Record<string, unknown>,
  demoDir: string,
): Promise<string[]> {
  const changed: string[] = [];
  const storage = config.targets['demo-storage'] as
    { encryption?: Record<string, unknown>; exports?: unknown } | undefined;
  if (storage?.encryption && 'recipients' in storage.encryption && !storage.encryption.signingKey) {
    await backupKeys(path.join(demoDir, 'keys'));
    storage.encryption.signingKey = DEMO_ENCRYPTION.signingKey;
    changed.push('demo-storage (signed backups)');
  }
  if (storage?.encryption && storage.exports === undefined) {
    storage.exports = DEMO_EXPORTS;
    changed.push('demo-storage (export destination usb)');
  }
  if (config.selfBackup === undefined && storage?.encryption) {
    await backupKeys(path.join(demoDir, 'keys'));
    config.selfBackup = DEMO_SELF_BACKUP;
    changed.push('selfBackup');
  }
  return changed;
}

async function writeBackupDemos(
  demoDir: string,
): Promise<{ targets: Record<string, unknown> } & Record<string, unknown>> {
  writeStoreFixture(path.join(demoDir, 'store'), 'corrupt', ['intact', 'corrupt']);
  // A new host holding an earlier host's offsite copy: the root is left for `restore` to bring back.
  const storage = path.join(demoDir, 'storage');
  if (!fs.existsSync(storage) && !holdsBackups(path.join(demoDir, 'offsite')))
    writeStorageRoot(storage, { seed: 42 });
  await backupKeys(path.join(demoDir, 'keys'));
  return {
    auditLedger: 'audit.sqlite',
    catalog: 'catalog.sqlite',
    selfBackup: DEMO_SELF_BACKUP,
    targets: {
      'demo-store': {
        description: 'Demo knowledge-graph store (procedure 002) with a corrupt primary',
        store: {
          primary: 'demo/store/graph.json',
          backups: 'demo/store/backups',
          quarantine: 'demo/store/quarantine',
        },
        gates: { restore: { approvers: ['*'], quorum: 1 } },
      },
      'demo-storage': {
        description: 'Demo storage root (procedure 003): SQLite databases, projects, a module',
        root: 'demo/storage',
        repository: 'demo/backups',
        offsite: 'demo/offsite',
        encryption: DEMO_ENCRYPTION,
        retention: { keepLast: 3, daily: 7, weekly: 4, monthly: 6 },
        engineVersion: '1.0.0',
        modules: ['maps'],
        restoreInto: { inspect: 'demo/inspect' },
        exports: DEMO_EXPORTS,
        gates: { restore: { approvers: ['*'], quorum: 1 } },
      },
    },
  };
}

/** Makes the demo primary corrupt again so the demo can be run once more. */
export function corruptDemo(dataDir: string): string {
  const primary = path.join(dataDir, 'demo', 'store', 'graph.json');
  fs.appendFileSync(primary, '{"corrupted": true}\n');
  return primary;
}
