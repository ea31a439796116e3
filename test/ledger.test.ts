/** The audit ledger: hash chain, idempotent appends, append-only triggers, tamper detection. */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { AuditLedger } from '../activities/lib/ledger';
import type { AuditEventInput } from '../common/types';
import { auditEvent, lifeboat, tempDir } from './helpers';

const event = (n: number, extra: Partial<AuditEventInput> = {}) => auditEvent(n, extra);

function filledLedger(): { file: string; ledger: AuditLedger } {
  const file = path.join(tempDir('ledger'), 'audit.sqlite');
  const ledger = new AuditLedger(file);
  ledger.append([1, 2, 3].map((n) => event(n)));
  ledger.append([event(4, { actor: 'alice', event: 'decision.approve' }), event(5)]);
  return { file, ledger };
}

test('appends chain each row to the one before, and a retried batch is written once', () => {
  const { ledger } = filledLedger();
  const rows = ledger.forWorkflow('wf-1');
  expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  expect(rows[0].prevHash).toBe('0'.repeat(64));
  for (let i = 1; i < rows.length; i += 1) expect(rows[i].prevHash).toBe(rows[i - 1].hash);
  // An activity retry sends the same events again.
  expect(
    ledger.append([event(4, { actor: 'alice', event: 'decision.approve' }), event(5), event(6)]),
  ).toEqual({ appended: 1, present: 2 });
  expect(ledger.forWorkflow('wf-1')).toHaveLength(6);
  expect(ledger.verify()).toEqual({ ok: true, rows: 6 });
  ledger.close();
});

test('the ledger refuses UPDATE and DELETE', () => {
  const { file, ledger } = filledLedger();
  ledger.close();
  const db = new Database(file);
  expect(() => db.prepare("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2").run()).toThrow(
    /append-only/,
  );
  expect(() => db.prepare('DELETE FROM audit_events WHERE seq = 2').run()).toThrow(/append-only/);
  db.close();
});

test('`lifeboat audit verify` names the first broken row of an edited ledger and exits 1', async () => {
  const { file, ledger } = filledLedger();
  ledger.close();
  const ok = await lifeboat(['audit', 'verify', '--ledger', file]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/chain intact \(5 rows\)/);

  // Someone with the file drops the guard and rewrites who approved.
  const db = new Database(file);
  db.exec('DROP TRIGGER audit_events_no_update');
  db.prepare("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4").run();
  db.close();
  const broken = await lifeboat(['audit', 'verify', '--ledger', file]);
  expect(broken.code).toBe(1);
  expect(broken.stderr).toMatch(/chain BROKEN at row 4: its content does not match its hash/);
});

test('a deleted row and a re-hashed edit are caught at the row after them', () => {
  const { file, ledger } = filledLedger();
  ledger.close();
  const db = new Database(file);
  db.exec('DROP TRIGGER audit_events_no_delete; DROP TRIGGER audit_events_no_update');
  db.prepare('DELETE FROM audit_events WHERE seq = 2').run();
  db.close();
  const reopened = new AuditLedger(file, { readonly: true });
  expect(reopened.verify()).toMatchObject({
    ok: false,
    brokenSeq: 3,
    problem: 'row 2 is missing (next row is 3)',
  });
  reopened.close();

  // An edit whose own hash is recomputed still breaks the link from the next row.
  const second = filledLedger();
  second.ledger.close();
  const db2 = new Database(second.file);
  db2.exec('DROP TRIGGER audit_events_no_update');
  const row = db2.prepare('SELECT hash FROM audit_events WHERE seq = 2').get() as { hash: string };
  db2
    .prepare('UPDATE audit_events SET hash = ? WHERE seq = 2')
    .run(row.hash.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')));
  db2.close();
  const check = new AuditLedger(second.file, { readonly: true });
  expect(check.verify()).toMatchObject({ ok: false, brokenSeq: 2 });
  check.close();
});
