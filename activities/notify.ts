/**
 * `notify`: posts a run's news (waiting, completed, stopped, failed, or a runbook's own alert) as
 * JSON to the webhooks in the worker's config. The body carries a Slack-compatible `text` plus
 * structured fields and a link to the run in the Temporal Web UI.
 *
 * Webhook URLs often hold a token, so they never appear in results, errors or logs: a webhook is
 * named by its position and host only. A retried attempt skips the webhooks the previous attempt
 * reached (kept in heartbeat details), so a webhook that is down does not make the others repeat.
 */
import { Context } from '@temporalio/activity';
import type { NotifyMessage, NotifyReceipt } from '../common/types';
import type { LifeboatConfig } from '../config';

/** A webhook as it may be shown: position and host, never the path (which may hold a token). */
export function webhookLabel(url: string, index: number): string {
  let host = 'invalid URL';
  try {
    host = new URL(url).host;
  } catch {
    // keep the placeholder
  }
  return `webhook #${index + 1} (${host})`;
}

const HEADLINES: Record<NotifyMessage['event'], string> = {
  waiting: ':raising_hand: waiting for a responder',
  completed: ':white_check_mark: completed',
  stopped: ':octagonal_sign: stopped',
  failed: ':x: failed',
  alert: ':rotating_light: alert',
  stuck: ':warning: stuck (its workflow task keeps failing)',
};

/** The Temporal Web UI's page for one run. */
export function runLink(uiUrl: string, message: NotifyMessage): string {
  const enc = encodeURIComponent;
  return `${uiUrl}/namespaces/${enc(message.namespace)}/workflows/${enc(message.workflowId)}/${enc(message.runId)}/history`;
}

/** The JSON body posted to every webhook. */
export function notificationBody(uiUrl: string, message: NotifyMessage): Record<string, unknown> {
  const link = runLink(uiUrl, message);
  const where = message.gate
    ? ` at gate \`${message.gate}\``
    : message.step
      ? ` at step \`${message.step}\``
      : '';
  const lines = [
    `${HEADLINES[message.event]}: *${message.runbook}* on *${message.target || '?'}*${where}`,
    message.reason ? `> ${message.reason}` : undefined,
    `<${link}|Open the run in Temporal>`,
  ].filter((l): l is string => l !== undefined);
  return {
    text: lines.join('\n'),
    event: message.event,
    runbook: message.runbook,
    target: message.target,
    state: message.state,
    reason: message.reason ?? null,
    gate: message.gate ?? null,
    step: message.step ?? null,
    workflowId: message.workflowId,
    runId: message.runId,
    url: link,
    details: message.details ?? {},
    at: message.at,
  };
}

function previouslyDelivered(): number[] {
  try {
    const details = Context.current().info.heartbeatDetails as { delivered?: number[] } | undefined;
    return Array.isArray(details?.delivered) ? details.delivered : [];
  } catch {
    return [];
  }
}

export function createNotifyActivities(config: LifeboatConfig) {
  return {
    /**
     * Posts `message` to every configured webhook. Fails (so Temporal retries) when any webhook did
     * not answer 2xx; the error names the webhooks by position and host only.
     */
    async notify(message: NotifyMessage): Promise<NotifyReceipt> {
      const settings = config.notify;
      if (!settings || settings.webhooks.length === 0) return { delivered: [], webhooks: 0 };
      const body = JSON.stringify(notificationBody(settings.uiUrl, message));
      const delivered = previouslyDelivered();
      const failures: string[] = [];
      for (const [i, url] of settings.webhooks.entries()) {
        if (delivered.includes(i)) continue;
        const label = webhookLabel(url, i);
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
            signal: AbortSignal.timeout(settings.timeoutSeconds * 1000),
          });
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new Error(`answered HTTP ${res.status}`);
          delivered.push(i);
          try {
            Context.current().heartbeat({ delivered });
          } catch {
            // Not in an activity (unit use).
          }
        } catch (err) {
          const cause = (err as { cause?: { code?: string } }).cause?.code;
          const why =
            (err as Error).name === 'TimeoutError'
              ? `no answer in ${settings.timeoutSeconds}s`
              : (cause ?? (err as Error).message);
          failures.push(`${label}: ${why}`);
        }
      }
      if (failures.length > 0) {
        throw new Error(`notification not delivered to ${failures.join('; ')}`);
      }
      return {
        delivered: delivered.map((i) => webhookLabel(settings.webhooks[i], i)),
        webhooks: settings.webhooks.length,
      };
    },
  };
}
