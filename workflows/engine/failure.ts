/** Small pieces the engine's parts share: workflow time, who the system is, and failures in words. */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  TimeoutFailure,
} from '@temporalio/workflow';

/** The actor of everything the engine does on its own. */
export const SYSTEM_ACTOR = 'lifeboat';
/** A runbook that contradicts its own metadata: a bug in the runbook, never retried. */
export const RUNBOOK_BUG = 'RunbookBug';

/** Now, in workflow time: deterministic across replays (runbooks use it for their own timestamps). */
export function nowIso(): string {
  return new Date().toISOString();
}

export function describeFailure(err: unknown): { type: string; message: string } {
  let cause: unknown = err;
  if (err instanceof ActivityFailure && err.cause) cause = err.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof TimeoutFailure) {
    return { type: 'Timeout', message: `the activity timed out (${cause.timeoutType ?? 'timeout'})` };
  }
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

export function fieldOf(result: unknown, key: string): unknown {
  return typeof result === 'object' && result !== null ? (result as Record<string, unknown>)[key] : undefined;
}

/** One line for a completed run's notification: the runbook's warning if it has one, else its outcome. */
export function summaryOf(result: unknown): string | undefined {
  const warning = fieldOf(result, 'warning');
  if (typeof warning === 'string') return warning;
  const outcome = fieldOf(result, 'outcome');
  return typeof outcome === 'string' ? `outcome: ${outcome}` : undefined;
}

/** The child's ending in one line: the innermost cause of a child workflow failure. */
export function childFailureText(err: unknown): string {
  let cause: unknown = err;
  while (cause instanceof ChildWorkflowFailure && cause.cause) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}

/** A timeline summary: one line, short enough to read in a bar. */
export function oneLine(text: string, max = 110): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
