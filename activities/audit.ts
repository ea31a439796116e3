/** The activity that writes audit events to the ledger (idempotent by event key). */
import type { AuditEventInput } from '../common/types';
import type { AuditLedger } from './lib/ledger';

export function createAuditActivities(ledger: AuditLedger) {
  return {
    async appendAudit(events: AuditEventInput[]): Promise<{ appended: number; present: number }> {
      return ledger.append(events);
    },
  };
}
