/** The activity that writes audit events to the ledger (idempotent by event key). */
import type { AuditEventInput } from '../common/types';
import type { LedgerStore } from './lib/stores';

export function createAuditActivities(ledger: LedgerStore) {
  return {
    async appendAudit(events: AuditEventInput[]): Promise<{ appended: number; present: number }> {
      return ledger.append(events);
    },
  };
}
