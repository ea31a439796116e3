/**
 * The control plane's check for stuck runs (issue 10): a run whose workflow task keeps failing (a
 * runbook changed under it without `patched()`, or a bug) cannot notify for itself. A Schedule runs
 * `sweepStuckRuns` every few minutes on each worker's task queue; each stuck run of that queue gets
 * one notice to the webhooks, recorded in the audit ledger (event `run.stuck`, with what was
 * delivered and what was not), so a later sweep does not repeat it. Like every notification, a
 * webhook that is down never makes the sweep fail: its problem is recorded and logged.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { SA_RUNBOOK_NAME, SA_RUNBOOK_TARGET } from '../common/constants';
import type { LifeboatConfig } from '../config';
import type { LedgerStore } from './lib/stores';
import { runHealth, stuckAdvice } from './lib/runHealth';
import { createNotifyActivities } from './notify';

export interface SweepReport {
  checked: number;
  stuck: {
    workflowId: string;
    runId: string;
    failures: number;
    failure: string;
    noticed: 'now' | 'before';
  }[];
  /** What went wrong (a run that could not be looked at, a webhook that did not answer). */
  problems: string[];
}

export function createStuckActivities(config: LifeboatConfig, ledger: LedgerStore, client?: () => Client) {
  const { notify } = createNotifyActivities(config);
  return {
    /** Finds the running Lifeboat runs of this worker's task queue that are stuck and tells the webhooks, once. */
    async sweepStuckRuns(): Promise<SweepReport> {
      const report: SweepReport = { checked: 0, stuck: [], problems: [] };
      const log = Context.current().log;
      if (!client) {
        report.problems.push('this worker has no Temporal client to look at the runs with');
        return report;
      }
      const temporal = client();
      // This queue's runs only: another deployment on the namespace has its own sweep and webhooks.
      const taskQueue = Context.current().info.taskQueue.replace(/'/g, "\\'");
      const query = `RunbookName IS NOT NULL AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'`;
      for await (const run of temporal.workflow.list({ query })) {
        report.checked += 1;
        let health;
        try {
          health = await runHealth(temporal.workflow.getHandle(run.workflowId, run.runId));
        } catch (err) {
          report.problems.push(`${run.workflowId}: cannot be looked at: ${(err as Error).message}`);
          continue;
        }
        const stuck = health.stuck;
        if (!stuck) continue;
        const entry = {
          workflowId: run.workflowId,
          runId: run.runId,
          failures: stuck.failures,
          failure: stuck.failure,
        };
        const eventKey = `run.stuck/${run.workflowId}/${run.runId}/${stuck.since ?? 'unknown'}`;
        if (await ledger.has(eventKey)) {
          report.stuck.push({ ...entry, noticed: 'before' });
          continue;
        }
        const runbook = run.typedSearchAttributes.get(SA_RUNBOOK_NAME) ?? run.type;
        const target = run.typedSearchAttributes.get(SA_RUNBOOK_TARGET) ?? '';
        let delivered: string[] = [];
        let problem: string | undefined;
        try {
          delivered = (
            await notify({
              event: 'stuck',
              at: new Date().toISOString(),
              runbook,
              target,
              state: 'stuck',
              reason: stuckAdvice(run.workflowId, stuck).join(' '),
              workflowId: run.workflowId,
              runId: run.runId,
              namespace: temporal.options.namespace,
              details: { failures: stuck.failures, since: stuck.since, failure: stuck.failure },
            })
          ).delivered;
        } catch (err) {
          problem = (err as Error).message;
          report.problems.push(`${run.workflowId}: ${problem}`);
          log.warn(`stuck run ${run.workflowId}: ${problem}`);
        }
        await ledger.append([
          {
            eventKey,
            at: new Date().toISOString(),
            workflowId: run.workflowId,
            runId: run.runId,
            runbook,
            target,
            event: 'run.stuck',
            actor: 'lifeboat',
            details: {
              ...entry,
              since: stuck.since,
              delivered,
              ...(problem ? { notDelivered: problem } : {}),
            },
          },
        ]);
        report.stuck.push({ ...entry, noticed: 'now' });
      }
      return report;
    },
  };
}
