/**
 * The running activity's context, for code that also runs outside an activity (unit use, scripts):
 * heartbeats and the cancellation signal are no-ops there.
 */
import { Context } from '@temporalio/activity';
import { runIdTail } from '../../common/tags';

/** Reports progress; the SDK throttles what reaches the server. */
export function heartbeat(details: Record<string, unknown>): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Outside an activity: no one to report to.
  }
}

/** A heartbeat that sends at most once a second, for loops over many small items. */
export function heartbeater(): (details: Record<string, unknown>) => void {
  let last = 0;
  return (details) => {
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    heartbeat(details);
  };
}

/** A short tag for temp file names: the run id's tail (unique per run), else the process id. */
export function runTag(): string {
  try {
    const runId = Context.current().info.workflowExecution?.runId;
    return runId ? runIdTail(runId) : `${process.pid}`;
  } catch {
    return `${process.pid}`;
  }
}

/** The running activity's cancellation signal (undefined outside an activity). */
export function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/**
 * Throws the cancellation (a CancelledFailure) once the running activity is cancelled; for long
 * loops, and for catch-alls that must not turn a cancellation into a finding.
 */
export function throwIfCancelled(): void {
  activitySignal()?.throwIfAborted();
}

/**
 * Runs `work`, heartbeating every few seconds with the latest details even while it is silent (one
 * large file or a quiet program may take longer than a heartbeat timeout). `beat` updates the
 * details and sends them at most once a second.
 */
export async function withHeartbeats<T>(
  initial: Record<string, unknown>,
  work: (beat: (details: Record<string, unknown>) => void) => Promise<T>,
): Promise<T> {
  let details = initial;
  const throttled = heartbeater();
  const beat = (d: Record<string, unknown>) => {
    details = d;
    throttled(d);
  };
  const timer = setInterval(() => heartbeat(details), 5000);
  try {
    return await work(beat);
  } finally {
    clearInterval(timer);
  }
}
