/**
 * healthCheck — procedure 002, Monitoring and Alerts (Health Checks, Automated Alerts): checks a
 * target's primary and backups (or its backup repository) against the thresholds of its
 * `healthCheck` section and the RPO of its `objectives`. Findings do not stop the run: it completes
 * with the list of issues (`healthy: false`), and a critical issue is sent to the webhooks as an alert.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { HealthIssue, HealthReport } from '../activities/health';
import { INVALID_INPUT } from '../common/errors';
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';

export const meta: RunbookMeta = {
  name: 'healthCheck',
  title: 'Backup health check',
  summary:
    "Reports on a target: primary present and intact against its .meta, backup count and valid-backup count against thresholds, free disk space, and the newest valid backup's age against the RPO (or the same for a backup repository). Completes with the list of issues; critical issues are sent to the webhooks.",
  source: '002_83a28ac7808853e0.txt — Monitoring and Alerts: Health Checks, Automated Alerts',
  objectives: {},
  input: {},
  gates: {},
  // A `store` or a `repository`: either will do, so the workflow checks (see checksInput).
  requires: [],
  stops: [],
  checksInput: true,
  flow: [
    {
      id: 'resolveTarget',
      label: 'find the target in the worker config',
      next: [
        { to: 'end:invalidInput', when: 'neither a store nor a repository' },
        { to: 'checkTargetHealth', when: 'a store or a repository' },
      ],
    },
    {
      id: 'checkTargetHealth',
      label: 'check primary, backups, disk space and RPO; critical issues alert the webhooks',
      next: ['end:completed'],
    },
    { id: 'end:completed', label: 'the report, with its issues' },
    { id: 'end:invalidInput', label: 'fails at once: bad input' },
  ],
};

export interface HealthCheckInput {
  target: string;
}

export interface HealthCheckResult extends HealthReport {
  /** One line summing up the issues, when there are any (also sent with the run's notification). */
  warning?: string;
}

function line(issues: HealthIssue[]): string {
  return issues.map((i) => `[${i.severity}] ${i.message}`).join('; ');
}

export async function healthCheck(input: HealthCheckInput): Promise<RunOutcome<HealthCheckResult>> {
  return runRunbook(meta, input, async (run) => {
    const { name, sections } = run.target;
    if (!sections.includes('store') && !sections.includes('repository')) {
      throw ApplicationFailure.nonRetryable(
        `target '${name}' has neither a 'store' section nor a 'repository' in the worker's config; healthCheck needs one of them`,
        INVALID_INPUT,
      );
    }
    run.acceptInput();
    const report = await run.step('checkTargetHealth', 'checkTargetHealth', [name], {
      startToCloseTimeout: '1 hour',
      heartbeatTimeout: '30 seconds',
    });
    run.fact('issues', report.issues);
    const critical = report.issues.filter((i) => i.severity === 'critical');
    if (critical.length > 0) {
      run.notify('alert', `${critical.length} critical health issue(s): ${line(critical)}`, {
        details: { issues: report.issues },
      });
    }
    if (report.issues.length === 0) return report;
    return {
      ...report,
      warning: `${report.issues.length} health issue(s), ${critical.length} critical: ${line(report.issues)}`,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
healthCheck.meta = meta;
