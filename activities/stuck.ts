/**
 * The control plane's check for stuck runs (issue 10): a run whose workflow task keeps failing (a
 * runbook changed under it without `patched()`, or a bug) cannot notify for itself. A Schedule runs
 * `sweepStuckRuns` every few minutes; each stuck run's webhooks hear of it once — the notice is
 * recorded in the audit ledger (event `run.stuck`), so a later sweep does not repeat it — and the
 * responder is told what to do (roll the worker back, or reset the run).
 */
import type { Client } from '@temporalio/client';
import { SA_RUNBOOK_NAME, SA_RUNBOOK_TARGET } from '../common/constants';
import type { LifeboatConfig } from '../worker/config';
import type { AuditLedger } from './lib/ledger';
import { runHealth, stuckAdvice } from './lib/runHealth';
import { createNotifyActivities } from './notify';

export interface SweepReport {
  checked: number;
  stuck: { workflowId: string; runId: string; attempts: number; failure: string; notified: boolean }[];
  /** Notices that could not be delivered (tried again by the next sweep). */
  problems: string[];
}

export function createStuckActivities(config: LifeboatConfig, ledger: AuditLedger, client?: () => Client) {
  const { notify } = createNotifyActivities(config);
  return {
    /** Finds the running Lifeboat runs that are stuck and tells each one's webhooks, once. */
    async sweepStuckRuns(): Promise<SweepReport> {
      const report: SweepReport = { checked: 0, stuck: [], problems: [] };
      if (!client) {
        report.problems.push('this worker has no Temporal client to look at the runs with');
        return report;
      }
      const temporal = client();
      const query = `RunbookName IS NOT NULL AND ExecutionStatus = 'Running'`;
      for await (const run of temporal.workflow.list({ query })) {
        report.checked += 1;
        const handle = temporal.workflow.getHandle(run.workflowId, run.runId);
        const health = await runHealth(handle).catch(() => undefined);
        if (!health?.stuck) continue;
        const stuck = health.stuck;
        const eventKey = `run.stuck/${run.workflowId}/${run.runId}/${stuck.since ?? 'unknown'}`;
        const entry = {
          workflowId: run.workflowId,
          runId: run.runId,
          attempts: stuck.attempts,
          failure: stuck.failure,
        };
        if (ledger.has(eventKey)) {
          report.stuck.push({ ...entry, notified: false });
          continue;
        }
        const runbook = run.typedSearchAttributes.get(SA_RUNBOOK_NAME) ?? run.type;
        const target = run.typedSearchAttributes.get(SA_RUNBOOK_TARGET) ?? '';
        const advice = stuckAdvice(run.workflowId, stuck);
        try {
          await notify({
            event: 'stuck',
            at: new Date().toISOString(),
            runbook,
            target,
            state: 'stuck',
            reason: advice.join(' '),
            workflowId: run.workflowId,
            runId: run.runId,
            namespace: temporal.options.namespace,
            details: { attempts: stuck.attempts, since: stuck.since, failure: stuck.failure },
          });
        } catch (err) {
          report.problems.push(`${run.workflowId}: ${(err as Error).message}`);
          report.stuck.push({ ...entry, notified: false });
          continue;
        }
        ledger.append([
          {
            eventKey,
            at: new Date().toISOString(),
            workflowId: run.workflowId,
            runId: run.runId,
            runbook,
            target,
            event: 'run.stuck',
            actor: 'lifeboat',
            details: { attempts: stuck.attempts, since: stuck.since, failure: stuck.failure, notified: true },
          },
        ]);
        report.stuck.push({ ...entry, notified: true });
      }
      return report;
    },
  };
}
