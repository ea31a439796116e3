/**
 * `lifeboat store migrate`: copies the SQLite stores of a control plane (its audit ledger, its
 * catalog with the forgotten agents) into a PostgreSQL database, the one writer of the ledger outside
 * control-plane activities, and only into an empty store. The source chain is verified first; rows
 * are copied as they are (hashes unchanged) and the chain is verified again on arrival, head to head.
 * Agents and their targets are not copied: agents announce themselves again within their period.
 */
import { SqliteLedgerStore, SqliteRecordStore } from '../activities/lib/stores/sqlite';
import { openDatabaseStores } from '../activities/lib/stores';
import type { DatabaseSettings } from '../config';
import { CliError, badInput } from './runs';

export interface MigrateReport {
  ledger?: { rows: number; head?: string; keys: number; nonces: number };
  catalog?: { backups: number; drills: number; forgotten: number };
  to: string;
}

const PAGE = 1000;

async function sourceOf<T>(open: () => T, what: string): Promise<T> {
  try {
    return open();
  } catch (err) {
    throw new CliError(`the ${what} to copy cannot be read: ${(err as Error).message}`, 1);
  }
}

export async function migrateStores(
  from: { ledger?: string; catalog?: string },
  to: DatabaseSettings,
  say: (line: string) => void,
): Promise<MigrateReport> {
  if (!from.ledger && !from.catalog) throw badInput('give --ledger <file>, --catalog <file>, or both');
  const ledger = from.ledger
    ? await sourceOf(() => new SqliteLedgerStore(from.ledger!, { readonly: true }), 'ledger')
    : undefined;
  const catalog = from.catalog
    ? await sourceOf(() => new SqliteRecordStore(from.catalog!, { readonly: true }), 'catalog')
    : undefined;
  let target;
  try {
    target = await openDatabaseStores(to);
  } catch (err) {
    await ledger?.close();
    await catalog?.close();
    throw new CliError((err as Error).message, 1);
  }
  const report: MigrateReport = { to: target.ledger.where };
  try {
    // Only into an empty store: another history would be mixed into this one.
    if (ledger) {
      const present = await target.ledger.count();
      if (present > 0)
        throw badInput(
          `the database ${target.ledger.where} already holds ${present} audit ledger rows: store migrate copies only into an empty store (it never mixes two histories)`,
        );
    }
    if (catalog && !(await target.records.isEmpty()))
      throw badInput(
        `the database ${target.records.where} already holds catalog or registry rows: store migrate copies only into an empty store`,
      );
    // Until the last row is in, every worker refuses this database (a shorter history would verify).
    await target.markCopy?.(true);
    if (ledger) {
      const before = await ledger.verify();
      if (!before.ok)
        throw new CliError(
          `the ledger ${ledger.where} is broken at row ${before.brokenSeq} (${before.problem}): nothing was copied; restore it from a backup first`,
          1,
        );
      for (let after = 0; ;) {
        const rows = await ledger.page(after, PAGE);
        if (rows.length === 0) break;
        await target.ledger.importRows(rows);
        after = rows[rows.length - 1].seq;
        say(`ledger: ${after} of ${before.rows} rows copied`);
      }
      const arrived = await target.ledger.verify();
      const [head, copiedHead] = [await ledger.head(), await target.ledger.head()];
      if (!arrived.ok || arrived.rows !== before.rows || head?.hash !== copiedHead?.hash)
        throw new CliError(
          `the copied ledger does not verify as the source did (${arrived.ok ? `${arrived.rows} rows, head ${copiedHead?.hash.slice(0, 12)}` : `broken at row ${arrived.brokenSeq}: ${arrived.problem}`}); the database holds a partial copy: drop its tables before trying again`,
          1,
        );
      // The signers' kept keys (audit verify re-checks signatures with them) and the claimed nonces
      // (a signed statement already used stays used).
      const kept = await ledger.keptKeysAndNonces();
      for (const k of kept.keys)
        await target.ledger.keepSignerKey(k.fingerprint, k.identity, k.armored, k.firstSeen);
      for (const n of kept.nonces) await target.ledger.claimNonce(n.nonce, n.holder, n.at);
      report.ledger = {
        rows: arrived.rows,
        head: copiedHead?.hash,
        keys: kept.keys.length,
        nonces: kept.nonces.length,
      };
    }
    if (catalog) {
      const backups = await catalog.allBackups();
      for (const b of backups) await target.records.putBackup(b, b.heldBy);
      const drills = await catalog.listDrills();
      for (const d of [...drills].reverse()) await target.records.putDrill(d);
      // A catalog from before agents has no registry: no forgotten agent to carry over.
      const forgotten = await catalog.forgottenAgents().catch(() => []);
      for (const f of forgotten) await target.records.putForgotten(f);
      report.catalog = { backups: backups.length, drills: drills.length, forgotten: forgotten.length };
    }
    await target.markCopy?.(false);
    return report;
  } finally {
    await ledger?.close();
    await catalog?.close();
    await target.close();
  }
}
