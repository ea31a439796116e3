/**
 * The outcome checks of the restore scenarios (corruptFiles, fullRestore, hostLoss, and
 * fullSystemRestore in drillSystemRestore.ts): the sandbox's
 * root holds exactly the backup's files, with the SHA-256, mode and mtime its manifest recorded and
 * databases that pass `PRAGMA integrity_check`; damaged files are repaired; and after a host loss the
 * new host's own catalog was rebuilt from the offsite copy alone.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DrillCheck } from '../common/drill';
import type { TargetConfig } from '../config';
import { isWithin } from '../config/sections';
import type { DisasterReport } from './drillDisaster';
import { Catalog, manifestDigest } from './lib/catalog';
import { heartbeat } from './lib/context';
import { exists, hashFile } from './lib/files';
import { readSandboxRecord } from './lib/sandbox';
import { check, integrityOf, listTree, type ScenarioChecks } from './lib/sandboxChecks';
import { SQLITE_SIDECARS } from './lib/sqlite';

/** Host loss: the new host's own catalog was rebuilt from the offsite copy alone. */
export function adoptedCheck(target: TargetConfig, backupId: string | undefined): DrillCheck {
  if (!target.ownCatalog || !fs.existsSync(target.ownCatalog))
    return check('catalogRebuilt', false, 'the recovery left no catalog of its own in the sandbox');
  const own = new Catalog(target.ownCatalog, { readonly: true });
  try {
    const entries = own.list(target.catalogName ?? target.name);
    const restored = entries.find((e) => e.backupId === backupId);
    const fromOffsite = entries.filter((e) => target.offsite && isWithin(e.archive, target.offsite));
    const ok = !!restored && restored.origin === 'adopted' && fromOffsite.length === entries.length;
    return check(
      'catalogRebuilt',
      ok,
      ok
        ? `the empty catalog was rebuilt from the offsite copy alone: ${entries.length} backup(s) adopted (signatures, sizes, SHA-256 and manifests checked), ${backupId} among them`
        : `the sandbox's catalog lists ${entries.length} backup(s)${restored ? `, ${backupId} with origin '${restored.origin}'` : `, not ${backupId}`}; ${fromOffsite.length} of them from the offsite copy`,
    );
  } finally {
    own.close();
  }
}

/** A backup's manifest in the sandbox's own catalog (a host-loss drill on a standby host: only it has it). */
function ownManifest(target: TargetConfig, id: string) {
  if (!target.ownCatalog || !fs.existsSync(target.ownCatalog)) return undefined;
  const own = new Catalog(target.ownCatalog, { readonly: true });
  try {
    return own.manifest(id);
  } finally {
    own.close();
  }
}

/** The files of the backup the recovery restored, checked in the sandbox's root (see the module comment). */
export async function restoreChecks(
  backups: () => Catalog,
  target: TargetConfig,
  sandbox: string,
  backupId: string | undefined,
  disaster: DisasterReport,
  /** Files the recovery wrote into the root after the restore (fullSystemRestore's proof): not unlisted. */
  options: { writtenAfter?: string[] } = {},
): Promise<ScenarioChecks> {
  const record = readSandboxRecord(sandbox);
  const pinned = record.backup;
  const id = backupId ?? pinned?.id;
  const manifest = id ? (backups().manifest(id) ?? ownManifest(target, id)) : undefined;
  if (!id || !manifest) {
    return {
      checks: [check('filesRestored', false, `backup ${id ?? '(none)'} is not in the catalog`)],
    };
  }
  const root = target.root!;
  const scratch = path.join(sandbox, 'scratch');
  const missing: string[] = [];
  const differ: string[] = [];
  const metadata: string[] = [];
  const damagedDatabases: string[] = [];
  let databases = 0;
  for (const [i, f] of manifest.files.entries()) {
    if (i % 50 === 0) heartbeat({ phase: 'verify', files: i, total: manifest.files.length });
    const abs = path.join(root, ...f.path.split('/'));
    const st = await fsp.stat(abs).catch(() => undefined);
    if (!st) {
      missing.push(f.path);
      continue;
    }
    if ((await hashFile(abs)).sha256 !== f.sha256) differ.push(f.path);
    if ((st.mode & 0o7777) !== f.mode || Math.abs(st.mtimeMs - f.mtimeMs) >= 1) metadata.push(f.path);
    if (f.kind === 'sqlite') {
      databases += 1;
      const integrity = await integrityOf(abs, scratch);
      if (integrity !== 'ok') damagedDatabases.push(`${f.path}: ${integrity}`);
    }
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const file of options.writtenAfter ?? [])
    listed.add(path.relative(root, file).split(path.sep).join('/'));
  const sqlite = new Set(manifest.files.filter((f) => f.kind === 'sqlite').map((f) => f.path));
  const unlisted = (await listTree(root)).filter(
    (p) => !listed.has(p) && !SQLITE_SIDECARS.some((s) => p.endsWith(s) && sqlite.has(p.slice(0, -s.length))),
  );
  const few = (list: string[]) => `${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''}`;
  const checks = [
    check(
      'filesRestored',
      missing.length === 0 && differ.length === 0,
      missing.length || differ.length
        ? `${missing.length} file(s) missing (${few(missing)}), ${differ.length} differ from backup ${id} (${few(differ)})`
        : `all ${manifest.files.length} files of backup ${id} are in ${root} with the SHA-256 its manifest recorded at backup time`,
    ),
    check(
      'noUnlistedFiles',
      unlisted.length === 0,
      unlisted.length
        ? `${unlisted.length} file(s) in the restored root are not in the backup: ${few(unlisted)}`
        : 'the restored root holds no file the backup does not list',
    ),
    check(
      'databaseIntegrity',
      damagedDatabases.length === 0,
      damagedDatabases.length
        ? `PRAGMA integrity_check failed: ${damagedDatabases.slice(0, 5).join('; ')}`
        : `PRAGMA integrity_check is ok on all ${databases} database(s)`,
    ),
    check(
      'modesAndMtimes',
      metadata.length === 0,
      metadata.length
        ? `${metadata.length} file(s) have another mode or mtime than the manifest: ${few(metadata)}`
        : 'every file has the mode and mtime the manifest recorded',
    ),
  ];
  if (disaster.scenario === 'corruptFiles') {
    const shaOf = new Map(manifest.files.map((f) => [f.path, f.sha256]));
    const unrepaired: string[] = [];
    for (const d of disaster.damaged) {
      const abs = path.join(root, ...d.path.split('/'));
      const want = shaOf.get(d.path);
      const present = await exists(abs);
      const ok = want === undefined ? !present : present && (await hashFile(abs)).sha256 === want;
      if (!ok) unrepaired.push(`${d.path} (${d.how})`);
    }
    checks.push(
      check(
        'damagedFilesRepaired',
        unrepaired.length === 0,
        unrepaired.length
          ? `still damaged: ${unrepaired.join(', ')}`
          : `every damaged file is back as backed up: ${disaster.damaged.map((d) => `${d.path} (${d.how})`).join(', ')}`,
      ),
    );
  }
  const entry = backups().get(id);
  const createdAt = manifest.createdAt ?? entry?.createdAt;
  return {
    checks,
    backup: {
      id,
      createdAt,
      manifestSha256: manifestDigest(entry, manifest),
    },
    dataAsOf: createdAt,
  };
}
