/**
 * `npm run up`'s script as a new user meets it: it brings up the dev server (UI included), the
 * search attributes, the demo target and the worker; the demo run waits for approval; Ctrl-C stops
 * everything; started again on the same data, the waiting run still waits and finishes on approval.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { treeState } from '../scripts/storage-root';
import { freePort } from './ports';
import { eventually, lifeboat, spawnTsx, tempDir, type Proc } from './helpers';
import { dbRows, expectSameTree } from './tree-helpers';

let up: Proc | undefined;
/** What the first test leaves for the second: its data folder and ports, and the demo storage root as backed up. */
let firstHost:
  | {
      dataDir: string;
      port: number;
      uiPort: number;
      storage: { tree: ReturnType<typeof treeState>; dbs: Record<string, unknown[]> };
    }
  | undefined;

afterAll(async () => {
  if (up && up.child.exitCode === null) {
    up.child.kill('SIGINT');
    await up.exited;
  }
});

async function bringUp(dataDir: string, port: number, uiPort: number): Promise<Proc> {
  const proc = spawnTsx('scripts/up.ts', {
    LIFEBOAT_DATA_DIR: dataDir,
    TEMPORAL_PORT: String(port),
    TEMPORAL_UI_PORT: String(uiPort),
    LIFEBOAT_CONFIG: '',
    TEMPORAL_NAMESPACE: 'default',
    LIFEBOAT_TASK_QUEUE: 'lifeboat',
  });
  await eventually(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`up exited early:\n${proc.output()}`);
      return proc.output().includes('Lifeboat is up') ? true : undefined;
    },
    'Lifeboat is up',
    90000,
  );
  return proc;
}

async function ctrlC(proc: Proc): Promise<number | null> {
  proc.child.kill('SIGINT');
  return proc.exited;
}

test('up, demo run waits, Ctrl-C, up again: the run still waits and completes on approval', async () => {
  const dataDir = tempDir('up');
  const [port, uiPort] = [await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const cli = (...args: string[]) =>
    lifeboat([...args, '--address', address], {
      LIFEBOAT_TASK_QUEUE: 'lifeboat',
      LIFEBOAT_CONFIG: path.join(dataDir, 'lifeboat.config.json'),
    });

  up = await bringUp(dataDir, port, uiPort);
  expect(up.output()).toContain(`Temporal UI: http://127.0.0.1:${uiPort}/namespaces/default/workflows`);
  expect(up.output()).toContain('npx lifeboat start corruptedStoreRecovery --target demo-store');
  expect(fs.existsSync(path.join(dataDir, 'temporal.db'))).toBe(true);
  const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
  expect(ui.status).toBe(200);

  const started = await cli('start', 'corruptedStoreRecovery', '--target', 'demo-store');
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  await eventually(
    async () => ((await cli('status', id)).stdout.includes("WAITING at gate 'restore'") ? true : undefined),
    'the demo to wait',
  );
  const waitingList = await cli('list', '--state', 'waiting', '--json');
  expect(waitingList.stdout).toContain(id);

  expect(await ctrlC(up)).toBe(0);
  expect(up.output()).toContain('stopping the worker and the dev server');
  const refused = await cli('status', id);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(`cannot reach the Temporal server at ${address}`);

  up = await bringUp(dataDir, port, uiPort);
  expect(up.output()).not.toContain('wrote the demo config');
  const again = await cli('status', id);
  expect(again.stdout).toContain("WAITING at gate 'restore'");

  const approved = await cli('approve', id, '--as', 'new-user');
  expect(approved.code).toBe(0);
  const watched = await cli('watch', id);
  expect(watched.stdout).toContain('state: completed');
  expect(watched.stdout).toContain('"outcome":"restored"');

  // The demo storage root backs up, encrypted to the key pair `up` generated.
  const backup = await cli('start', 'fullBackup', '--target', 'demo-storage');
  expect(backup.code).toBe(0);
  const backedUp = await cli('watch', backup.stdout.trim());
  expect(backedUp.stdout).toContain('state: completed');
  expect(backedUp.stdout).toContain('"verified":true');
  const listed = await lifeboat(['backups', 'list', '--target', 'demo-storage'], {
    LIFEBOAT_CONFIG: path.join(dataDir, 'lifeboat.config.json'),
  });
  expect(listed.stdout).toMatch(/demo-storage-\S+-full +full .* verified/);

  // Every recovery demo runs to its end from the CLI: the ones behind a gate on approval.
  const runDemo = async (runbook: string, target: string, gate?: string, input?: unknown) => {
    const extra = input === undefined ? [] : ['--input', JSON.stringify(input)];
    const run = await cli('start', runbook, '--target', target, ...extra);
    expect(run.stderr).not.toContain('refused');
    const runId = run.stdout.trim();
    if (gate) {
      await eventually(
        async () =>
          (await cli('status', runId)).stdout.includes(`WAITING at gate '${gate}'`) ? true : undefined,
        `${runbook} to wait at ${gate}`,
      );
      expect((await cli('approve', runId, '--as', 'new-user')).code).toBe(0);
    }
    const done = await cli('watch', runId);
    expect(done.stdout).toContain('state: completed');
    return done.stdout;
  };
  expect(await runDemo('corruptedConfigRecovery', 'demo-config')).toContain('"outcome":"restoredBackup"');
  expect(await runDemo('auditChainRecovery', 'demo-chain', 'restoreChain')).toContain('"outcome":"restored"');
  expect(await runDemo('panicRecovery', 'demo-panic', 'restoreLedger')).toContain('"outcome":"recovered"');
  expect(await runDemo('healthCheck', 'demo-store')).toContain('"healthy":false');
  const nic = 'PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\3&11583659&0&FE';
  // The device id as `up` prints it for a shell: JSON inside single quotes.
  expect(up.output()).toContain(
    `'${JSON.stringify({ device: nic, package: 'netdrv-1.1.0.0' }).replace(/":/g, '": ').replace(/,"/g, ', "')}'`,
  );
  expect(
    await runDemo('driverUpdate', 'demo-drivers', 'install', { device: nic, package: 'netdrv-1.1.0.0' }),
  ).toContain('"outcome":"updated"');

  // A restore drill of the demo storage root, in a sandbox, with a signed proof that verifies.
  const drill = await runDemo('drDrill', 'demo-storage', undefined, { scenario: 'fullRestore' });
  expect(drill).toContain('"passed":true');
  const proofPath = /"path":"([^"]+\.json)"/.exec(drill)![1];
  const verified = await lifeboat(['proof', 'verify', proofPath], {
    LIFEBOAT_CONFIG: path.join(dataDir, 'lifeboat.config.json'),
  });
  expect(verified.code).toBe(0);
  const drills = await lifeboat(['drills', 'list', '--target', 'demo-storage'], {
    LIFEBOAT_CONFIG: path.join(dataDir, 'lifeboat.config.json'),
  });
  expect(drills.stdout).toMatch(/fullRestore.*PASS/);
  // A host-loss drill of the demo (recipients mode: the offsite copy's signatures are checked).
  const hostLoss = await runDemo('drDrill', 'demo-storage', undefined, { scenario: 'hostLoss' });
  expect(hostLoss).toContain('"passed":true');
  expect(hostLoss).toContain('"name":"catalogRebuilt","ok":true');

  // The signed demo: only dana's key opens its gate; an unsigned approval is refused with the line to run.
  const signedRun = await cli('start', 'corruptedStoreRecovery', '--target', 'demo-signed');
  const signedId = signedRun.stdout.trim();
  await eventually(
    async () =>
      (await cli('status', signedId)).stdout.includes('signed decisions: approve') ? true : undefined,
    'the signed demo to wait',
  );
  const unsignedApproval = await cli('approve', signedId, '--as', 'dana');
  expect(unsignedApproval.code).toBe(2);
  expect(unsignedApproval.stderr).toContain(`lifeboat approve ${signedId} --as <you> --key`);
  const keyOf = (name: string) => path.join(dataDir, 'demo', 'approver-keys', `${name}.sec.asc`);
  const byErin = await lifeboat(
    ['approve', signedId, '--as', 'erin', '--key', keyOf('erin'), '--address', address],
    {
      LIFEBOAT_KEY_PASSPHRASE: 'lifeboat-demo',
    },
  );
  expect(byErin.stderr).toMatch(/'erin' may not approve gate 'restore'; allowed approvers: dana/);
  const byDana = await lifeboat(
    ['approve', signedId, '--as', 'dana', '--key', keyOf('dana'), '--address', address],
    {
      LIFEBOAT_KEY_PASSPHRASE: 'lifeboat-demo',
    },
  );
  expect(byDana.stdout).toMatch(/gate 'restore' opened/);
  expect((await cli('watch', signedId)).stdout).toContain('"outcome":"restored"');
  const audited = await lifeboat(['audit', 'verify'], {
    LIFEBOAT_CONFIG: path.join(dataDir, 'lifeboat.config.json'),
  });
  expect(audited.stdout).toMatch(/decision\.approve by dana\): signature by key [0-9A-F]+ verifies/);

  // Lifeboat's own stores back up too, copied into the demo's offsite folder.
  expect(await runDemo('fullBackup', 'lifeboat-self')).toContain('"verified":true');
  const storage = path.join(dataDir, 'demo', 'storage');
  firstHost = { dataDir, port, uiPort, storage: { tree: treeState(storage), dbs: dbRows(storage) } };
  expect(await ctrlC(up)).toBe(0);
}, 300000);

test("the host is gone: up on a folder holding only the offsite copy and the keys, then the README's restore command, brings the storage root back", async () => {
  if (!firstHost) throw new Error('the first test did not pass, so there is no first host to lose');
  const { dataDir, port, uiPort } = firstHost;
  const demo = path.join(dataDir, 'demo');
  const keys = Object.fromEntries(
    fs.readdirSync(path.join(demo, 'keys')).map((f) => [f, fs.readFileSync(path.join(demo, 'keys', f))]),
  );
  for (const name of fs.readdirSync(dataDir))
    if (name !== 'demo') fs.rmSync(path.join(dataDir, name), { recursive: true, force: true });
  for (const name of fs.readdirSync(demo))
    if (name !== 'offsite' && name !== 'keys')
      fs.rmSync(path.join(demo, name), { recursive: true, force: true });

  up = await bringUp(dataDir, port, uiPort);
  expect(up.output()).toContain('holds backups from an earlier host');
  // Every kept key is reused, never overwritten.
  for (const [file, bytes] of Object.entries(keys))
    expect({ file, same: fs.readFileSync(path.join(demo, 'keys', file)).equals(bytes) }).toEqual({
      file,
      same: true,
    });
  const config = path.join(dataDir, 'lifeboat.config.json');
  const cli = (...args: string[]) =>
    lifeboat([...args, '--address', `127.0.0.1:${port}`], {
      LIFEBOAT_TASK_QUEUE: 'lifeboat',
      LIFEBOAT_CONFIG: config,
    });

  const started = await cli('start', 'restore', '--target', 'demo-storage');
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  const waiting = await eventually(async () => {
    const status = (await cli('status', id)).stdout;
    return status.includes("WAITING at gate 'restore'") ? status : undefined;
  }, 'the restore to wait at its gate');
  expect(waiting).toMatch(/the catalog listed no backup: adopted 1 backup\(s\) from the offsite copy/);
  expect((await cli('approve', id, '--as', 'new-user')).code).toBe(0);
  expect((await cli('watch', id)).stdout).toContain('state: completed');
  expectSameTree(path.join(demo, 'storage'), firstHost.storage.tree, firstHost.storage.dbs);
  expect(await ctrlC(up)).toBe(0);

  // With the control plane stopped, the old ledger comes back and is continued. This host's own
  // rows (the restore just run) are replaced only when asked, and kept beside.
  const from = path.join(demo, 'offsite', 'lifeboat-self');
  const refused = await lifeboat(['self', 'restore', '--from', from], { LIFEBOAT_CONFIG: config });
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/already holds \d+ row\(s\).*run again with --replace/);
  const self = await lifeboat(['self', 'restore', '--from', from, '--replace', '--as', 'new-user'], {
    LIFEBOAT_CONFIG: config,
  });
  expect(self.code).toBe(0);
  expect(self.stdout).toMatch(/set aside: \d+ ledger row\(s\) and \d+ catalog row\(s\) of this host/);
  const verified = await lifeboat(['audit', 'verify'], { LIFEBOAT_CONFIG: config });
  expect(verified.code).toBe(0);
  expect(verified.stdout).toMatch(/seam at row \d+: history recovered up to/);
}, 240000);
