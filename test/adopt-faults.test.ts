/**
 * Adoption from a damaged or odd repository, with real files, real OpenPGP and real SQLite catalogs:
 * a folder that is missing or is not a folder (the offsite copy used instead when it can be read), one
 * mounted read-only, sidecars that do not parse, archives that do not match their sidecar, two
 * sidecars claiming one backup, a legacy sidecar, the wrong private key, and a primary and an offsite
 * copy that disagree.
 * Each refusal is asserted on its reason, and each test checks that nothing in the repository moved.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  copyFolder,
  failureOf,
  flipByte,
  folder,
  hostConfig,
  makeBackups,
  newHost,
  refusalOf,
  setUpLab,
  watchRepositories,
  type Host,
  type Lab,
  type TargetSpec,
} from './adopt-fixtures';

let lab: Lab;
/** A pristine repository of target alpha: a full backup and its incremental. */
let pristine: string;
let full: string;
let incremental: string;

beforeAll(async () => {
  lab = await setUpLab('adopt-faults');
  pristine = folder(lab, 'pristine');
  [full, incremental] = await makeBackups(lab, 'alpha', { repository: pristine }, ['full', 'incremental']);
});

/** A copy of the pristine repository for one test to damage. */
const freshCopy = (name: string) => copyFolder(pristine, folder(lab, name));
const file = (repository: string, name: string) => path.join(repository, name);
const sidecarOf = (repository: string, id: string) =>
  JSON.parse(fs.readFileSync(file(repository, `${id}.json`), 'utf8')) as Record<string, unknown>;

async function onNewHost<T>(spec: TargetSpec, work: (host: Host) => Promise<T>): Promise<T> {
  const host = newHost(hostConfig(lab, { alpha: spec }));
  try {
    return await work(host);
  } finally {
    host.close();
  }
}

test('a repository folder that is missing STOPs naming it; with a readable offsite copy, the backups come from there', async () => {
  const missing = path.join(lab.dir, 'never-mounted');
  const offsite = freshCopy('offsite');
  const repo = watchRepositories(missing, offsite);
  await onNewHost({ repository: missing }, async (host) => {
    const failure = await failureOf(host.adopt('alpha'));
    expect(failure.type).toBe('NoValidBackup');
    expect(failure.message).toBe(
      `no repository of target 'alpha' can be read: the repository ${missing} does not exist; mount or copy the repository (or its offsite copy) there and retry`,
    );
    expect(host.catalog.list()).toEqual([]);
  });
  await onNewHost({ repository: missing, offsite }, async (host) => {
    const report = await host.adopt('alpha');
    expect(report.used).toBe('offsite');
    expect(report.repositories).toEqual([
      {
        name: 'repository',
        folder: missing,
        readable: false,
        problem: `the repository ${missing} does not exist`,
      },
      { name: 'offsite', folder: offsite, readable: true },
    ]);
    expect(report.adopted.map((a) => [a.backupId, a.from])).toEqual([
      [full, 'offsite'],
      [incremental, 'offsite'],
    ]);
    expect(host.catalog.get(full)?.archive).toBe(file(offsite, `${full}.lbk`));
  });
  repo.expectUnchanged();
});

test('a file where the repository folder should be STOPs naming it as not a folder', async () => {
  const notAFolder = path.join(lab.dir, 'repository-is-a-file');
  fs.writeFileSync(notAFolder, 'a file left where the mount point should be');
  const repo = watchRepositories(notAFolder);
  await onNewHost({ repository: notAFolder }, async (host) => {
    const failure = await failureOf(host.adopt('alpha'));
    expect(failure.type).toBe('NoValidBackup');
    expect(failure.message).toContain(`the repository ${notAFolder} is not a folder`);
    expect(host.catalog.list()).toEqual([]);
  });
  repo.expectUnchanged();
});

test('a repository mounted read-only is adopted from and verified for a restore: both only read it', async () => {
  const repository = freshCopy('source');
  const mounted = folder(lab, 'read-only');
  execFileSync('mount', ['--bind', repository, mounted]);
  try {
    execFileSync('mount', ['-o', 'remount,ro,bind', mounted]);
    expect(() => fs.writeFileSync(file(mounted, 'probe'), '')).toThrow(/EROFS/);
    const repo = watchRepositories(mounted);
    await onNewHost({ repository: mounted }, async (host) => {
      const report = await host.adopt('alpha');
      expect(report.refused).toEqual([]);
      expect(report.adopted.map((a) => a.archive)).toEqual([
        file(mounted, `${full}.lbk`),
        file(mounted, `${incremental}.lbk`),
      ]);
      // The restore's checks read every archive of the chain (databases are checked beside the root).
      const inspected = await host.run(host.acts.inspectRestore, 'alpha', 'latest');
      expect(inspected).toMatchObject({ backupId: incremental, chain: [full, incremental] });
    });
    repo.expectUnchanged();
  } finally {
    execFileSync('umount', [mounted]);
  }
});

test('sidecars that do not parse are refused naming the file and the field; their archives are reported as orphans', async () => {
  const repository = freshCopy('unparsable');
  fs.writeFileSync(file(repository, `${full}.json`), '{"format": "lifeboat.backupSidecar", "backupId": ');
  const truncated = sidecarOf(repository, incremental);
  delete truncated.archiveSha256;
  fs.writeFileSync(file(repository, `${incremental}.json`), JSON.stringify(truncated, null, 2));
  const repo = watchRepositories(repository);
  await onNewHost({ repository }, async (host) => {
    const report = await host.adopt('alpha');
    expect(report.adopted).toEqual([]);
    expect(report.refused).toEqual([
      {
        file: file(repository, `${full}.json`),
        from: 'repository',
        reason: `the sidecar ${full}.json is not JSON`,
      },
      {
        file: file(repository, `${incremental}.json`),
        from: 'repository',
        reason: `the sidecar ${incremental}.json has no valid archiveSha256`,
      },
    ]);
    expect(report.orphans).toEqual([file(repository, `${full}.lbk`), file(repository, `${incremental}.lbk`)]);
    expect(host.catalog.list()).toEqual([]);
  });
  repo.expectUnchanged();
});

test('an archive whose size differs from its sidecar, and one whose SHA-256 differs, are refused with that reason', async () => {
  const repository = freshCopy('damaged');
  const size = fs.statSync(file(repository, `${full}.lbk`)).size;
  fs.appendFileSync(file(repository, `${full}.lbk`), Buffer.from([0]));
  const { archiveSha256 } = sidecarOf(repository, incremental) as { archiveSha256: string };
  flipByte(file(repository, `${incremental}.lbk`));
  const repo = watchRepositories(repository);
  await onNewHost({ repository }, async (host) => {
    const report = await host.adopt('alpha');
    expect(report.adopted).toEqual([]);
    expect(refusalOf(report, full).map((r) => r.reason)).toEqual([
      `its archive ${full}.lbk is ${size + 1} bytes, its sidecar says ${size}`,
    ]);
    expect(refusalOf(report, incremental).map((r) => r.reason)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^its archive ${incremental}\\.lbk has SHA-256 [0-9a-f]{16}…, its sidecar says ${archiveSha256.slice(0, 16)}… \\(changed or damaged\\)$`,
        ),
      ),
    ]);
    expect(host.catalog.list()).toEqual([]);
  });
  repo.expectUnchanged();
});

test('two sidecars claiming one backup id with different content are both refused, naming both files', async () => {
  const repository = freshCopy('claims');
  const rival = { ...sidecarOf(repository, full), createdBy: 'someone else' };
  fs.writeFileSync(file(repository, 'copy.json'), JSON.stringify(rival, null, 2));
  const repo = watchRepositories(repository);
  await onNewHost({ repository }, async (host) => {
    const report = await host.adopt('alpha');
    expect(report.adopted).toEqual([]);
    const claims = refusalOf(report, full);
    expect(claims.map((r) => path.basename(r.file)).sort()).toEqual([`${full}.json`, 'copy.json']);
    for (const r of claims)
      expect(r.reason).toBe(
        `2 sidecars claim backup ${full} with different content (${full}.json, copy.json); nothing tells which is right`,
      );
    expect(refusalOf(report, incremental).map((r) => r.reason)).toEqual([
      expect.stringMatching(
        new RegExp(`^its parent ${full} was refused \\(.*2 sidecars claim backup ${full}`),
      ),
    ]);
    expect(host.catalog.list()).toEqual([]);
  });
  repo.expectUnchanged();
});

test('a legacy backup (a sidecar without format, as older Lifeboat wrote) is refused as predating signed sidecars', async () => {
  const repository = freshCopy('legacy');
  const s = sidecarOf(repository, full);
  const legacy = Object.fromEntries(
    [
      'backupId',
      'target',
      'kind',
      'parent',
      'createdAt',
      'archiveSha256',
      'archiveSize',
      'manifestSha256',
    ].map((k) => [k, s[k]]),
  );
  fs.writeFileSync(file(repository, `${full}.json`), JSON.stringify(legacy, null, 2));
  fs.rmSync(file(repository, `${full}.json.asc`));
  const repo = watchRepositories(repository);
  await onNewHost({ repository }, async (host) => {
    const report = await host.adopt('alpha');
    expect(report.adopted).toEqual([]);
    expect(refusalOf(report, full)).toEqual([
      {
        backupId: full,
        file: file(repository, `${full}.json`),
        from: 'repository',
        kind: 'legacy',
        reason:
          'it was made before backups carried signed sidecars, so nothing proves who made it; it stays restorable on the host whose catalog lists it (or by hand: lifeboat archive extract)',
      },
    ]);
    expect(refusalOf(report, incremental).map((r) => [r.kind, r.reason])).toEqual([
      [
        'chain',
        expect.stringContaining(
          `its parent ${full} was refused (repository: it was made before backups carried`,
        ),
      ],
    ]);
    expect(host.catalog.list()).toEqual([]);
  });
  repo.expectUnchanged();
});

test('the wrong private key STOPs as a key problem, and nothing is adopted', async () => {
  const repository = freshCopy('wrong-key');
  const repo = watchRepositories(repository);
  await onNewHost({ repository, encryption: { privateKeys: [lab.wrongKey.secret] } }, async (host) => {
    const failure = await failureOf(host.adopt('alpha'));
    expect(failure.type).toBe('KeyProblem');
    expect(failure.message).toMatch(
      new RegExp(
        `^backup ${full} of target 'alpha' cannot be opened: the archive cannot be decrypted with the configured key\\(s\\)`,
      ),
    );
    expect(host.catalog.list()).toEqual([]);
  });
  repo.expectUnchanged();
});

test.each([
  ['repository', 'offsite'],
  ['offsite', 'repository'],
] as const)(
  'a primary and an offsite copy that disagree (the %s copy damaged): the %s copy, which verifies, is used and the other is named',
  async (damaged, used) => {
    const folders = { repository: freshCopy('primary'), offsite: freshCopy('offsite') };
    flipByte(file(folders[damaged], `${full}.lbk`));
    const repo = watchRepositories(folders.repository, folders.offsite);
    await onNewHost(folders, async (host) => {
      const report = await host.adopt('alpha');
      expect(report.refused).toEqual([]);
      expect(report.adopted.map((a) => [a.backupId, a.from, a.archive])).toEqual([
        [full, used, file(folders[used], `${full}.lbk`)],
        [incremental, 'repository', file(folders.repository, `${incremental}.lbk`)],
      ]);
      expect(report.disagreements).toEqual([
        expect.stringMatching(
          new RegExp(
            `^backup ${full}: taken from the ${used} copy; ${damaged}: its archive ${full}\\.lbk has SHA-256 [0-9a-f]{16}…, its sidecar says`,
          ),
        ),
      ]);
      const entry = host.catalog.get(full)!;
      expect(entry.archive).toBe(file(folders[used], `${full}.lbk`));
      // A damaged offsite copy is not recorded as the backup's second copy; a sound one is.
      expect(entry.offsiteCopy).toBeNull();
      expect(host.catalog.get(incremental)?.offsiteCopy).toBe(file(folders.offsite, `${incremental}.lbk`));
    });
    repo.expectUnchanged();
  },
);
