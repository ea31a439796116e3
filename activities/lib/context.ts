/**
 * The running activity's context, for code that also runs outside an activity (unit use, scripts):
 * heartbeats and the cancellation signal are no-ops there.
 */
import { asyncLocalStorage, type Context } from '@temporalio/activity';
import { runIdTail } from '../../common/tags';

/**
 * The running activity's context, or undefined outside one. Why not Context.current(): it throws
 * outside an activity, and building that error on every chunk cost a restore run from a script
 * 0.4 s per GiB.
 */
function current(): Context | undefined {
  return asyncLocalStorage.getStore();
}

/** Reports progress; the SDK throttles what reaches the server. */
export function heartbeat(details: Record<string, unknown>): void {
  // Outside an activity: no one to report to.
  current()?.heartbeat(details);
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
  const runId = current()?.info.workflowExecution?.runId;
  return runId ? runIdTail(runId) : `${process.pid}`;
}

/** The running activity's cancellation signal (undefined outside an activity). */
export function activitySignal(): AbortSignal | undefined {
  return current()?.cancellationSignal;
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
