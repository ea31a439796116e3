/**
 * The HTTP health probe (procedure 004 §4): GET the target's `health.url` until it answers 2xx or
 * the attempts run out. panicRecovery runs it after the services start; a drill runs it on the
 * recovered sandbox.
 *
 * Credentials in the URL become an Authorization header and are never shown: results and messages
 * carry the URL without them, and a response body only as a short excerpt.
 */
import type { LifeboatConfig } from '../config';
import { stopFailure } from './errors';
import { activitySignal, withHeartbeats } from './lib/context';
import { sectionOf } from './targets';

export interface HealthProbeResult {
  /** The URL without any user name or password. */
  url: string;
  status: number;
  attempts: number;
  durationMs: number;
}

/**
 * The URL to request and as it may be shown (without a user name or password), and the
 * Authorization header its credentials become (fetch refuses URLs that carry them).
 */
function healthRequest(url: string): { url: string; headers: Record<string, string> } {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  if (u.username || u.password) {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  return { url: u.toString(), headers };
}

/** Why one health request failed, in a line. */
function requestError(err: unknown, timeoutSeconds: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutSeconds}s`;
  if (e.cause?.message)
    return e.cause.code && !e.cause.message.includes(e.cause.code)
      ? `${e.cause.code}: ${e.cause.message}`
      : e.cause.message;
  return e.message ?? String(err);
}

/** Reads at most `limit` bytes of a response body, as one line. */
async function bodyExcerpt(res: Response, limit = 200): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit).replace(/\s+/g, ' ').trim();
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function createHealthProbeActivities(config: LifeboatConfig) {
  return {
    /**
     * GETs the target's health URL up to `attempts` times, `intervalSeconds` apart, each within
     * `timeoutSeconds`; a 2xx answer is healthy. Otherwise a HealthCheckFailed STOP with the last error.
     */
    async probeHealth(
      targetName: string,
      /** Added to the STOP's message: what state the run leaves things in while it waits. */
      options: { whileWaiting?: string } = {},
    ): Promise<HealthProbeResult> {
      const health = sectionOf(config, targetName, 'health');
      const { url, headers } = healthRequest(health.url);
      const cancelled = activitySignal();
      const started = Date.now();
      let last = 'no attempt made';
      // Heartbeats keep flowing while a request waits, so a stop reaches the probe at once.
      const healthy = await withHeartbeats({ attempt: 0, last }, async (beat) => {
        for (let attempt = 1; attempt <= health.attempts; attempt += 1) {
          beat({ attempt, last });
          const timeout = AbortSignal.timeout(health.timeoutSeconds * 1000);
          const signal = cancelled ? AbortSignal.any([timeout, cancelled]) : timeout;
          try {
            const res = await fetch(url, { headers, redirect: 'manual', signal });
            const body = await bodyExcerpt(res);
            if (res.status >= 200 && res.status < 300) {
              return { url, status: res.status, attempts: attempt, durationMs: Date.now() - started };
            }
            last = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${body ? `: ${body}` : ''}`;
          } catch (err) {
            if (cancelled?.aborted) throw err;
            last = requestError(err, health.timeoutSeconds);
          }
          beat({ attempt, last });
          if (attempt < health.attempts) await sleep(health.intervalSeconds * 1000, cancelled);
        }
        return undefined;
      });
      if (healthy) return healthy;
      throw stopFailure(
        'HealthCheckFailed',
        `${url} is not healthy after ${health.attempts} attempt(s), ${health.intervalSeconds}s apart, ${health.timeoutSeconds}s each; last: ${last}${options.whileWaiting ? `; ${options.whileWaiting}` : ''}`,
      );
    },
  };
}
