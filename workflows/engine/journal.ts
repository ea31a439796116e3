/**
 * A run's two outboxes: audit events, written to the ledger in order by the `appendAudit` activity,
 * and notifications, sent to the configured webhooks by the `notify` activity. Each has a loop that
 * runs beside the runbook (never cancelled) until the run has ended and its queue is empty.
 */
import * as wf from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RunbookMeta } from '../../common/runbook';
import type { AuditEventInput, NotifyMessage, RunStatus } from '../../common/types';
import { SYSTEM_ACTOR, describeFailure, nowIso } from './failure';

/** The timeline's line for one ledger write: how many events, and the first few by name. */
function auditSummary(events: AuditEventInput[]): string {
  const names = events
    .slice(0, 3)
    .map((e) => (e.step && !e.event.startsWith(e.step) ? `${e.event} ${e.step}` : e.event));
  return `audit: ${events.length === 1 ? '1 event' : `${events.length} events`} (${names.join(', ')}${events.length > 3 ? ', …' : ''})`;
}

export class Journal {
  private readonly info = wf.workflowInfo();
  private readonly auditQueue: AuditEventInput[] = [];
  private auditSeq = 0;
  private auditClosed = false;
  private readonly notifyQueue: NotifyMessage[] = [];
  private notifyClosed = false;

  constructor(
    private readonly meta: RunbookMeta,
    private readonly status: RunStatus,
    /** Whether the target wants notifications (unknown until the target is resolved: yes). */
    private readonly notifying: () => boolean,
    /** Called after every event: each is a change the run's page should show. */
    private readonly changed: () => void = () => undefined,
  ) {}

  /** Appends an audit event; written to the ledger in order by the audit loop. */
  record(event: string, details: Record<string, unknown> = {}, actor = SYSTEM_ACTOR, step?: string): void {
    this.auditQueue.push({
      eventKey: `${this.info.workflowId}/${this.info.runId}/${++this.auditSeq}`,
      at: nowIso(),
      workflowId: this.info.workflowId,
      runId: this.info.runId,
      runbook: this.meta.name,
      target: this.status.target,
      step: step ?? this.status.currentStep,
      event,
      actor,
      details,
    });
    this.changed();
  }

  /** Queues a notification of the run as it is now (see RunbookRun.notify). */
  notify(
    event: NotifyMessage['event'],
    reason?: string,
    extra: { gate?: string; step?: string; details?: Record<string, unknown> } = {},
  ): void {
    if (!this.notifying()) return;
    this.notifyQueue.push({
      event,
      at: nowIso(),
      runbook: this.meta.name,
      target: this.status.target,
      state: this.status.state,
      reason,
      gate: extra.gate,
      step: extra.step ?? this.status.currentStep,
      workflowId: this.info.workflowId,
      runId: this.info.runId,
      namespace: this.info.namespace,
      details: extra.details,
    });
  }

  /** Sends queued notifications in order; runs until the run has ended and the queue is empty. */
  async notifyLoop(): Promise<void> {
    const sender = wf.proxyActivities<Activities>({
      startToCloseTimeout: '1 minute',
      // Why: a webhook that is down gets three tries a few seconds apart, then the run moves on.
      retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
    });
    for (;;) {
      await wf.condition(() => this.notifyQueue.length > 0 || this.notifyClosed);
      const message = this.notifyQueue.shift();
      if (!message) return;
      try {
        const receipt = await sender.notify.executeWithOptions(
          { summary: `notify: ${message.event}${message.gate ? ` at gate ${message.gate}` : ''}` },
          [message],
        );
        if (receipt.webhooks > 0) {
          this.record(
            'notify.sent',
            { event: message.event, delivered: receipt.delivered },
            SYSTEM_ACTOR,
            message.step,
          );
        }
      } catch (err) {
        this.record(
          'notify.failed',
          { event: message.event, error: describeFailure(err).message },
          SYSTEM_ACTOR,
          message.step,
        );
      }
    }
  }

  closeNotify(): void {
    this.notifyClosed = true;
  }

  /** Writes queued audit events in order; runs until the run has ended and the queue is empty. */
  async auditLoop(): Promise<void> {
    const ledger = wf.proxyActivities<Activities>({
      startToCloseTimeout: '30 seconds',
      // Why: the ledger must receive every event; a locked or full disk is waited out, not skipped.
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
    });
    for (;;) {
      await wf.condition(() => this.auditQueue.length > 0 || this.auditClosed);
      if (this.auditQueue.length === 0) return;
      const events = this.auditQueue.splice(0);
      await ledger.appendAudit.executeWithOptions({ summary: auditSummary(events) }, [events]);
    }
  }

  closeAudit(): void {
    this.auditClosed = true;
  }
}
