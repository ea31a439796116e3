/** Helpers for activities to fail the way the engine understands (see common/errors.ts). */
import { ApplicationFailure } from '@temporalio/activity';
import { INVALID_INPUT, type StopClass } from '../common/errors';

/** The workflow's input is wrong: the run fails at once with this message. */
export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: INVALID_INPUT, nonRetryable: true });
}

/** The procedure must not guess: the run waits for a responder with this reason. */
export function stopFailure(type: StopClass, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type,
    nonRetryable: true,
    details: details === undefined ? [] : [details],
  });
}

/** An error's message for a STOP reason (or the value itself, when something else was thrown). */
export function errorText(err: unknown): string {
  // Not `instanceof Error`: errors from Node's own modules may come from another realm.
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}
