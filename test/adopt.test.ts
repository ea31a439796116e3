/**
 * Adoption on a new host (a fresh catalog beside the same repository folder), with real files, real
 * OpenPGP keys and real SQLite catalogs: who may sign a backup (trusted signers, key rotation,
 * archives forged with the target's public key that decrypt cleanly), passphrase mode, a chain whose
 * parent is gone, targets sharing a folder, a repeat run, and the adoptRepository runbook end to end
 * on the suite's dev server. Every test also checks that no byte, mode or mtime in the repository moved.
 * Repository faults (missing folders, damaged sidecars and archives, two copies that disagree) are in
 * adopt-faults.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalog } from '../activities/lib/catalog';
import type { AdoptReport } from '../common/adopt';
import { approveUpdate, skipUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import {
  flipByte,
  folder,
  forgeBackup,
  hostConfig,
  makeBackups,
  newHost,
  refusalOf,
  repositoryState,
  setUpLab,
  watchRepositories,
  type Lab,
} from './adopt-fixtures';
import { startWorker, statusWhen, uniqueQueue } from './helpers';

let lab: Lab;

beforeAll(async () => {
  lab = await setUpLab('adopt');
});

const idsOf = (report: AdoptReport) => report.adopted.map((a) => a.backupId);

test('a new host adopts a full backup and its incremental; a second run adopts nothing and reports them present', async () => {
  const repository = folder(lab, 'repo');
  const [full, incremental] = await makeBackups(lab, 'alpha', { repository }, ['full', 'incremental']);
  const repo = watchRepositories(repository);
  const host = newHost(hostConfig(lab, { alpha: { repository } }));
  try {
    const first = await host.adopt('alpha');
    expect(first.refused).toEqual([]);
    expect(first.adopted).toEqual([
      expect.objectContaining({ backupId: full, kind: 'full', parent: null, from: 'repository' }),
      expect.objectContaining({ backupId: incremental, kind: 'incremental', parent: full }),
    ]);
    expect(first.adopted.map((a) => a.signedBy)).toEqual([lab.signing.fingerprint, lab.signing.fingerprint]);
    expect(first.used).toBe('repository');
    expect(first.newestRestorable).toBe(incremental);
    expect(
      host.catalog.list('alpha').map((e) => [e.backupId, e.origin, e.signedBy, path.dirname(e.archive)]),
    ).toEqual([
      [incremental, 'adopted', lab.signing.fingerprint, repository],
      [full, 'adopted', lab.signing.fingerprint, repository],
    ]);

    const second = await host.adopt('alpha');
    expect(second.adopted).toEqual([]);
    expect(second.refused).toEqual([]);
    expect(second.present).toEqual([full, incremental]);
    expect(second.newestRestorable).toBe(incremental);

    // What was adopted is a working catalog entry: the chain reads back completely, and reading it
    // writes nothing into the repository either (databases are checked on copies beside the root).
    const verified = await host.run(host.acts.verifyBackups, 'alpha', 'all');
    expect(verified.map((r) => [r.backupId, r.ok])).toEqual([
      [full, true],
      [incremental, true],
    ]);
    repo.expectUnchanged();
  } finally {
    host.close();
  }
});

test("two targets sharing one repository folder: adopting one never adopts the other's backups, only counts them", async () => {
  const shared = folder(lab, 'shared');
  const alpha = await makeBackups(lab, 'alpha', { repository: shared }, ['full']);
  const beta = await makeBackups(lab, 'beta', { repository: shared }, ['full', 'incremental']);
  const repo = watchRepositories(shared);
  const host = newHost(hostConfig(lab, { alpha: { repository: shared }, beta: { repository: shared } }));
  try {
    const report = await host.adopt('alpha');
    expect(idsOf(report)).toEqual(alpha);
    expect(report.otherTargets).toEqual({ beta: 2 });
    expect(report.refused).toEqual([]);
    expect(report.orphans).toEqual([]);
    expect(host.catalog.list().map((e) => [e.target, e.backupId])).toEqual([['alpha', alpha[0]]]);

    const other = await host.adopt('beta');
    expect(idsOf(other)).toEqual(beta);
    expect(other.otherTargets).toEqual({ alpha: 1 });
    expect(host.catalog.list('beta').map((e) => e.backupId)).toEqual([...beta].reverse());
    repo.expectUnchanged();
  } finally {
    host.close();
  }
});

test('a sidecar signed by a key outside trustedSigners is refused naming its fingerprint; trusting the retired key adopts it', async () => {
  const repository = folder(lab, 'rotated');
  // Made before the key rotation: signed with the key the target used then.
  const [old] = await makeBackups(
    lab,
    'alpha',
    { repository, encryption: { signingKey: lab.retired.secret } },
    ['full'],
  );
  const repo = watchRepositories(repository);
  const before = hostConfig(lab, { alpha: { repository } });
  let host = newHost(before);
  try {
    const refused = await host.adopt('alpha');
    expect(refused.adopted).toEqual([]);
    expect(refusalOf(refused, old)).toEqual([
      {
        backupId: old,
        file: path.join(repository, `${old}.json`),
        from: 'repository',
        reason: `its sidecar is signed by key ${lab.retired.fingerprint}, which is not a trusted signer (encryption.signingKey and encryption.trustedSigners: ${lab.signing.fingerprint})`,
      },
    ]);
    expect(host.catalog.list()).toEqual([]);
    host.close();

    // The same host, its config edited: the retired key's public key added to trustedSigners.
    const dir = path.dirname(before.source);
    host = newHost(
      hostConfig(lab, { alpha: { repository, encryption: { trustedSigners: [lab.retired.public] } } }, dir),
    );
    const adopted = await host.adopt('alpha');
    expect(adopted.refused).toEqual([]);
    expect(adopted.adopted).toEqual([
      expect.objectContaining({ backupId: old, signedBy: lab.retired.fingerprint }),
    ]);
    expect(host.catalog.get(old)?.signedBy).toBe(lab.retired.fingerprint);
    repo.expectUnchanged();
  } finally {
    host.close();
  }
});

test("a valid signature over another sidecar (another backup's .json.asc copied over) does not verify", async () => {
  const repository = folder(lab, 'swapped');
  const [full, incremental] = await makeBackups(lab, 'alpha', { repository }, ['full', 'incremental']);
  fs.copyFileSync(
    path.join(repository, `${incremental}.json.asc`),
    path.join(repository, `${full}.json.asc`),
  );
  const repo = watchRepositories(repository);
  const host = newHost(hostConfig(lab, { alpha: { repository } }));
  try {
    const report = await host.adopt('alpha');
    expect(report.adopted).toEqual([]);
    expect(refusalOf(report, full).map((r) => r.reason)).toEqual([
      `its sidecar's signature by key ${lab.signing.fingerprint} does not verify: the sidecar was changed after it was signed, or the signature belongs to another sidecar`,
    ]);
    // Its incremental is sound itself, but its chain is not.
    expect(refusalOf(report, incremental).map((r) => r.reason)).toEqual([
      expect.stringMatching(new RegExp(`^its parent ${full} was refused \\(.*does not verify`)),
    ]);
    expect(report.newestRestorable).toBeUndefined();
    expect(host.catalog.list()).toEqual([]);
    repo.expectUnchanged();
  } finally {
    host.close();
  }
});

test("archives forged with the target's public key are refused in recipients mode, signed by a foreign key or unsigned", async () => {
  const repository = folder(lab, 'forged');
  await forgeBackup(lab, { repository, target: 'alpha', backupId: 'forged-signed', signWith: lab.foreign });
  await forgeBackup(lab, { repository, target: 'alpha', backupId: 'forged-unsigned' });
  const repo = watchRepositories(repository);
  const host = newHost(hostConfig(lab, { alpha: { repository } }));
  try {
    const report = await host.adopt('alpha');
    expect(report.adopted).toEqual([]);
    expect(refusalOf(report, 'forged-signed').map((r) => r.reason)).toEqual([
      expect.stringContaining(
        `its sidecar is signed by key ${lab.foreign.fingerprint}, which is not a trusted signer`,
      ),
    ]);
    expect(refusalOf(report, 'forged-unsigned').map((r) => r.reason)).toEqual([
      'its sidecar is not signed, and an archive encrypted to a public key can be written by anyone who holds that key',
    ]);
    expect(report.newestRestorable).toBeUndefined();
    expect(host.catalog.list()).toEqual([]);
  } finally {
    host.close();
  }
  // Control: the forgeries are sound archives that decrypt with the target's key; only the signature
  // stood in their way (a host that wrongly trusted the foreign key would adopt the signed one).
  const fooled = newHost(
    hostConfig(lab, { alpha: { repository, encryption: { trustedSigners: [lab.foreign.public] } } }),
  );
  try {
    const report = await fooled.adopt('alpha');
    expect(idsOf(report)).toEqual(['forged-signed']);
    expect(refusalOf(report, 'forged-unsigned')).toHaveLength(1);
  } finally {
    fooled.close();
  }
  repo.expectUnchanged();
});

test('in passphrase mode an unsigned sidecar of a genuine backup is adopted; a signature that is present must be trusted', async () => {
  const repository = folder(lab, 'passphrase');
  const genuine = await makeBackups(lab, 'gamma', { repository, mode: 'passphrase' }, [
    'full',
    'incremental',
  ]);
  const [foreignSigned] = await makeBackups(
    lab,
    'gamma',
    { repository, mode: 'passphrase', encryption: { signingKey: lab.foreign.secret } },
    ['full'],
  );
  expect(genuine.filter((id) => fs.existsSync(path.join(repository, `${id}.json.asc`)))).toEqual([]);
  const repo = watchRepositories(repository);
  const host = newHost(hostConfig(lab, { gamma: { repository, mode: 'passphrase' } }));
  try {
    const report = await host.adopt('gamma');
    expect(idsOf(report)).toEqual(genuine);
    expect(report.adopted.map((a) => a.signedBy)).toEqual([undefined, undefined]);
    expect(host.catalog.get(genuine[0])?.signedBy).toBeNull();
    expect(refusalOf(report, foreignSigned).map((r) => r.reason)).toEqual([
      `its sidecar is signed by key ${lab.foreign.fingerprint}, which is not a trusted signer (encryption.signingKey and encryption.trustedSigners: none configured)`,
    ]);
    expect(report.newestRestorable).toBe(genuine[1]);
    repo.expectUnchanged();
  } finally {
    host.close();
  }
});

test('an incremental whose parent is gone is refused naming the parent; the report offers the newest complete chain', async () => {
  const repository = folder(lab, 'gap');
  const [full1, incr1, full2, incr2] = await makeBackups(lab, 'alpha', { repository }, [
    'full',
    'incremental',
    'full',
    'incremental',
  ]);
  for (const ext of ['.lbk', '.json', '.json.asc']) fs.rmSync(path.join(repository, `${full2}${ext}`));
  const repo = watchRepositories(repository);
  const host = newHost(hostConfig(lab, { alpha: { repository } }));
  try {
    const report = await host.adopt('alpha');
    expect(idsOf(report)).toEqual([full1, incr1]);
    expect(report.refused).toEqual([
      {
        backupId: incr2,
        file: path.join(repository, `${incr2}.json`),
        from: 'repository',
        kind: 'chain',
        reason: `its parent ${full2} is not in the repository; the newest backup with a complete chain is ${incr1}`,
      },
    ]);
    expect(report.newestRestorable).toBe(incr1);
    expect(host.catalog.get(incr2)).toBeUndefined();
    repo.expectUnchanged();
  } finally {
    host.close();
  }
});

test('the adoptRepository runbook on a worker adopts the sound backups and lists the refused one with its reason', async () => {
  const repository = folder(lab, 'runbook');
  const sound = await makeBackups(lab, 'alpha', { repository }, ['full', 'incremental']);
  const [damaged] = await makeBackups(lab, 'alpha', { repository }, ['full']);
  flipByte(path.join(repository, `${damaged}.lbk`));
  const repo = watchRepositories(repository);
  const config = hostConfig(lab, { alpha: { repository } });
  const tw = await startWorker(config, uniqueQueue('adopt'));
  let outcome: RunOutcome<AdoptReport>;
  try {
    const handle = await tw.client.workflow.start('adoptRepository', {
      taskQueue: tw.taskQueue,
      workflowId: `adoptRepository-alpha-${Math.random().toString(36).slice(2, 8)}`,
      args: [{ target: 'alpha' }],
    });
    outcome = (await handle.result()) as RunOutcome<AdoptReport>;
  } finally {
    await tw.stop();
  }
  expect(outcome.state).toBe('completed');
  expect(idsOf(outcome.result!)).toEqual(sound);
  expect(outcome.result!.refused).toEqual([
    {
      backupId: damaged,
      file: path.join(repository, `${damaged}.json`),
      from: 'repository',
      reason: expect.stringMatching(
        new RegExp(
          `^its archive ${damaged}\\.lbk has SHA-256 [0-9a-f]{16}…, its sidecar says [0-9a-f]{16}… \\(changed or damaged\\)$`,
        ),
      ),
    },
  ]);
  const catalog = new Catalog(config.catalog, { readonly: true });
  try {
    expect(catalog.list('alpha').map((e) => e.backupId)).toEqual([...sound].reverse());
  } finally {
    catalog.close();
  }
  repo.expectUnchanged();
});

test('restore on a new host STOPs on a refused backup, naming it and the key found; skip adopts only what verifies and the restore goes on', async () => {
  const repository = folder(lab, 'restore-stop');
  const [full] = await makeBackups(lab, 'alpha', { repository }, ['full']);
  // Newer than the genuine backup: restoring "the newest" would pick it if it were trusted.
  await forgeBackup(lab, {
    repository,
    target: 'alpha',
    backupId: 'alpha-forged-newest',
    signWith: lab.foreign,
  });
  const before = repositoryState(repository);
  const config = hostConfig(lab, { alpha: { repository } });
  const tw = await startWorker(config, uniqueQueue('adopt-restore'));
  try {
    const workflowId = `restore-alpha-${Math.random().toString(36).slice(2, 8)}`;
    const handle = await tw.client.workflow.start('restore', {
      taskQueue: tw.taskQueue,
      workflowId,
      args: [{ target: 'alpha' }],
    });
    const stopped = await statusWhen(tw.client, workflowId, (s) => s.state === 'waiting', 'the STOP');
    expect(stopped.waiting).toMatchObject({ step: 'adoptRepository', allowed: ['retry', 'skip', 'stop'] });
    expect(stopped.waiting?.reason).toContain('alpha-forged-newest (repository)');
    expect(stopped.waiting?.reason).toContain(
      `signed by key ${lab.foreign.fingerprint}, which is not a trusted signer`,
    );
    expect(stopped.waiting?.reason).toContain(`skip to adopt only the 1 backup(s) that verify (${full})`);
    // Nothing is adopted before a responder decides.
    const before = new Catalog(config.catalog, { readonly: true });
    expect(before.list('alpha')).toEqual([]);
    before.close();

    await handle.executeUpdate(skipUpdate, { args: [{ actor: 'alice' }] });
    const gate = await statusWhen(tw.client, workflowId, (s) => s.waiting?.gate === 'restore', 'the gate');
    expect(gate.waiting?.reason).toContain(`restore backup ${full}`);
    await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    const outcome = (await handle.result()) as RunOutcome<{ backupId: string }>;
    expect(outcome).toMatchObject({ state: 'completed', result: { backupId: full } });
  } finally {
    await tw.stop();
  }
  const catalog = new Catalog(config.catalog, { readonly: true });
  try {
    expect(catalog.list('alpha').map((e) => e.backupId)).toEqual([full]);
  } finally {
    catalog.close();
  }
  // No file in the repository changed; only the folder's mtime moved (the restore's lock came and went).
  const after = repositoryState(repository);
  expect({ ...after, [repository]: 'folder' }).toEqual({ ...before, [repository]: 'folder' });
});
