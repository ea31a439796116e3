/**
 * `lifeboat self restore`: brings Lifeboat's own stores (the audit ledger and the catalog) back on a
 * new host from a repository of the built-in target `lifeboat-self`, with nothing but the keys, before
 * the control plane starts (like break glass). The newest backup whose sidecar, signature, archive and
 * chain verify is unpacked beside the stores, both databases pass `PRAGMA integrity_check` and the
 * ledger's hash chain verifies, and only then are they renamed into place (what was there is kept
 * beside as `<file>.replaced-<time>`). The recovered ledger is continued, never rewritten: the first
 * row written afterwards, `ledger.recovered`, links to the recovered head and says up to when history
 * was recovered, so `lifeboat audit verify` passes over the whole and shows the seam.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { SELF_TARGET } from '../../common/constants';
import { heldTo, openArchiveStream } from './archiveStream';
import { BreakGlassError, type BreakGlassKeys } from './breakGlass';
import { Catalog } from './catalog';
import { KeyError } from './crypto';
import { fsyncDir } from './files';
import { AuditLedger } from './ledger';
import {
  RepositoryError,
  chainGaps,
  checkBackup,
  listRepository,
  type CheckedBackup,
  type FoundBackup,
} from './repository';
import { integrityOf } from './rootFiles';
import { encryptionMode } from './sidecar';
import { unpackChain, wantedFiles } from './unpack';

/** The event of the row that continues a recovered ledger. */
export const LEDGER_RECOVERED = 'ledger.recovered';

export interface SelfRestoreResult {
  backupId: string;
  createdAt: string;
  from: string;
  ledger: { file: string; rows: number; headSeq: number; headAt?: string };
  catalog: { file: string; backups: number; drills: number };
  /** The row that continues the recovered chain. */
  seam: { seq: number; recoveredUpTo: string };
  /** Files that were in the way, kept beside, and the rows they held (no longer in the chain). */
  keptAside: string[];
  setAside: { ledgerRows: number; catalogRows: number };
  /** Newer backups that were passed over, and why. */
  skipped: { backupId: string; reason: string }[];
}

/** A name part no earlier restore used: to the millisecond, and random beyond. */
function stamp(): string {
  const at = new Date().toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${at}-${randomUUID().slice(0, 8)}`;
}

/** Rows already in a store at `file`, or 0 when there is no file. */
function rowsIn(file: string, what: 'ledger' | 'catalog'): number {
  if (!fs.existsSync(file)) return 0;
  try {
    if (what === 'ledger') {
      const ledger = new AuditLedger(file, { readonly: true });
      try {
        return ledger.count();
      } finally {
        ledger.close();
      }
    }
    const catalog = new Catalog(file, { readonly: true });
    try {
      return catalog.list().length + catalog.listDrills().length;
    } finally {
      catalog.close();
    }
  } catch {
    // A file that is not a readable store of its kind holds nothing worth keeping in place.
    return 1;
  }
}

/** Picks the newest backup whose whole chain verifies; the newer ones passed over are said. */
async function newestSound(
  found: FoundBackup[],
  keys: BreakGlassKeys,
  wanted: string | undefined,
): Promise<{ chosen: FoundBackup; manifest: CheckedBackup; skipped: SelfRestoreResult['skipped'] }> {
  const byId = new Map(found.map((f) => [f.backupId, f]));
  const skipped: SelfRestoreResult['skipped'] = [];
  const gaps = chainGaps(
    found.map((f) => f.backupId),
    (id) => byId.get(id)?.sidecar.parent,
    (id) => (byId.has(id) ? undefined : 'is not in the folder (or was refused)'),
  );
  const order = [...found].reverse().filter((f) => wanted === undefined || f.backupId === wanted);
  const checked = new Map<string, string | undefined>();
  for (const candidate of order) {
    const gap = gaps.get(candidate.backupId);
    if (gap) {
      skipped.push({ backupId: candidate.backupId, reason: gap });
      continue;
    }
    let problem: string | undefined;
    let manifest: CheckedBackup | undefined;
    for (
      let at: FoundBackup | undefined = candidate;
      at && !problem;
      at = byId.get(at.sidecar.parent ?? '')
    ) {
      if (!checked.has(at.backupId)) {
        try {
          const result = await checkBackup(at, keys.encryption);
          checked.set(at.backupId, 'refused' in result ? result.refused : undefined);
          if (at === candidate && !('refused' in result)) manifest = result;
        } catch (err) {
          if (err instanceof KeyError)
            throw new BreakGlassError(`backup ${at.backupId} cannot be opened: ${err.message}`, false);
          throw err;
        }
      }
      const why = checked.get(at.backupId);
      if (why) problem = at === candidate ? why : `its parent ${at.backupId}: ${why}`;
    }
    if (problem || !manifest) {
      skipped.push({ backupId: candidate.backupId, reason: problem ?? 'its manifest could not be read' });
      continue;
    }
    return { chosen: candidate, manifest, skipped };
  }
  const why = skipped.map((s) => `${s.backupId}: ${s.reason}`).join('; ');
  throw new BreakGlassError(
    wanted && order.length === 0
      ? `no backup ${wanted} of ${SELF_TARGET} that verifies is in the folder`
      : `no backup of ${SELF_TARGET} in the folder verifies${why ? `: ${why}` : ''}`,
    false,
  );
}

export async function selfRestore(options: {
  from: string;
  /** Path in the archive → where it goes (the config's ledger and catalog). */
  stores: { ledger: string; catalog: string };
  keys: BreakGlassKeys;
  replace: boolean;
  actor: string;
  backupId?: string;
}): Promise<SelfRestoreResult> {
  const { stores, keys } = options;
  const from = path.resolve(options.from);
  let listing;
  try {
    listing = await listRepository(from, SELF_TARGET, {
      mode: encryptionMode(keys.encryption),
      trusted: keys.trusted,
    });
  } catch (err) {
    if (err instanceof RepositoryError) throw new BreakGlassError(err.message, true);
    throw err;
  }
  if (listing.found.length === 0) {
    const refused = listing.refused.map((r) => `${path.basename(r.file)}: ${r.reason}`).join('; ');
    throw new BreakGlassError(
      `no backup of ${SELF_TARGET} in ${from} can be used${refused ? `: ${refused}` : ' (none found)'}`,
      false,
    );
  }
  // Refused before anything is unpacked: stores in use are never replaced unasked.
  const held = [
    { file: stores.ledger, rows: rowsIn(stores.ledger, 'ledger'), what: 'audit ledger' },
    { file: stores.catalog, rows: rowsIn(stores.catalog, 'catalog'), what: 'catalog' },
  ].filter((s) => s.rows > 0);
  if (held.length && !options.replace)
    throw new BreakGlassError(
      `${held.map((h) => `the ${h.what} ${h.file} already holds ${h.rows} row(s)`).join('; ')}; Lifeboat's own state is restored before its control plane starts. Stop the control plane and run again with --replace (what is there is kept beside as <file>.replaced-<time>)`,
      true,
    );

  const { chosen, manifest, skipped } = await newestSound(listing.found, keys, options.backupId);
  const checkedManifest = manifest;
  const byId = new Map(listing.found.map((f) => [f.backupId, f]));
  const dir = path.dirname(stores.ledger);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.mkdir(path.dirname(stores.catalog), { recursive: true });
  const staging = path.join(dir, `.lifeboat-self-restore-${stamp()}`);
  await fsp.mkdir(staging);
  try {
    const chain = [...new Set(checkedManifest.manifest.files.map((f) => f.storedIn))];
    await unpackChain({
      chain: chain.map((id) => ({
        backupId: id,
        open: async () => {
          const found = byId.get(id)!;
          const opened = await openArchiveStream(found.archive, keys.encryption);
          // The bytes unpacked are the bytes whose sidecar, signature and SHA-256 were checked.
          const expected = { size: found.sidecar.archiveSize, sha256: found.sidecar.archiveSha256 };
          return { plain: opened.plain, check: heldTo(opened, expected, found.sidecar.archive) };
        },
      })),
      wanted: wantedFiles(checkedManifest.manifest.files),
      dest: staging,
    });
    const staged = {
      ledger: path.join(staging, 'audit.sqlite'),
      catalog: path.join(staging, 'catalog.sqlite'),
    };
    for (const [name, file] of Object.entries(staged)) {
      if (!fs.existsSync(file))
        throw new BreakGlassError(
          `backup ${chosen.backupId} holds no ${path.basename(file)} (the ${name})`,
          false,
        );
      const integrity = integrityOf(file);
      if (integrity !== 'ok')
        throw new BreakGlassError(
          `the ${name} in backup ${chosen.backupId} fails its integrity check: ${integrity}`,
          false,
        );
    }
    const recovered = new AuditLedger(staged.ledger, { readonly: true });
    let head;
    let rows;
    try {
      const verdict = recovered.verify();
      if (!verdict.ok)
        throw new BreakGlassError(
          `the ledger in backup ${chosen.backupId} does not verify (row ${verdict.brokenSeq}: ${verdict.problem}); choose an older one with --backup`,
          false,
        );
      head = recovered.head();
      rows = verdict.rows;
    } finally {
      recovered.close();
    }

    const keptAside: string[] = [];
    const suffix = `.replaced-${stamp()}`;
    for (const file of [stores.ledger, stores.catalog]) {
      for (const part of ['', '-wal', '-shm']) {
        if (!fs.existsSync(file + part)) continue;
        const aside = `${file}${suffix}${part}`;
        // Never over something kept before: that would lose the way back.
        if (fs.existsSync(aside))
          throw new BreakGlassError(`${aside} exists already; nothing was replaced`, false);
        await fsp.rename(file + part, aside);
        keptAside.push(aside);
      }
    }
    await fsp.rename(staged.ledger, stores.ledger);
    await fsp.rename(staged.catalog, stores.catalog);
    await fsyncDir(path.dirname(stores.ledger));
    await fsyncDir(path.dirname(stores.catalog));

    const recoveredUpTo = head?.at ?? chosen.sidecar.createdAt;
    const ledger = new AuditLedger(stores.ledger);
    let seamSeq: number;
    try {
      const runId = randomUUID();
      ledger.append([
        {
          eventKey: `${LEDGER_RECOVERED}/${chosen.backupId}/${runId}`,
          at: new Date().toISOString(),
          workflowId: `self-restore-${chosen.backupId}`,
          runId,
          runbook: 'selfRestore',
          target: SELF_TARGET,
          event: LEDGER_RECOVERED,
          actor: options.actor,
          details: {
            recoveredUpTo,
            backupId: chosen.backupId,
            backupCreatedAt: chosen.sidecar.createdAt,
            from,
            recoveredRows: rows,
            recoveredHead: head ? { seq: head.seq, hash: head.hash } : null,
            note: 'rows written after the backup was taken were lost with the old host',
          },
        },
      ]);
      seamSeq = ledger.head()!.seq;
    } finally {
      ledger.close();
    }
    const catalog = new Catalog(stores.catalog, { readonly: true });
    const counts = { backups: catalog.list().length, drills: catalog.listDrills().length };
    catalog.close();
    return {
      backupId: chosen.backupId,
      createdAt: chosen.sidecar.createdAt,
      from,
      ledger: { file: stores.ledger, rows, headSeq: head?.seq ?? 0, headAt: head?.at },
      catalog: { file: stores.catalog, ...counts },
      seam: { seq: seamSeq, recoveredUpTo },
      keptAside,
      setAside: {
        ledgerRows: held.find((h) => h.file === stores.ledger)?.rows ?? 0,
        catalogRows: held.find((h) => h.file === stores.catalog)?.rows ?? 0,
      },
      skipped,
    };
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
}
