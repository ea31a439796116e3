/**
 * The one activity the migration runbook adds (procedure 003 §11): run a command named in the
 * target's config (`migrate`, `verify`) and say how it ended instead of throwing, so that the run,
 * not a retry, decides what a failed migration means (a rollback behind a gate). A cancelled step
 * still ends the command and everything it started.
 */
import type { LifeboatConfig } from '../config';
import { invalidInput } from './errors';
import { runCheckedCommand } from './lib/commands';
import { findTarget } from './targets';

export interface CommandOutcome {
  name: string;
  ok: boolean;
  /** Why it failed: the exit code or the timeout, with its last lines of output. */
  problem?: string;
  durationMs?: number;
}

export function createMigrationActivities(config: LifeboatConfig) {
  return {
    /** Runs the target's command `name`; a non-zero exit or a timeout is an outcome, not a throw. */
    async tryTargetCommand(targetName: string, name: string): Promise<CommandOutcome> {
      const command = findTarget(config, targetName).commands[name];
      if (!command)
        throw invalidInput(`target '${targetName}' has no command '${name}' in the worker's config`);
      const started = Date.now();
      try {
        await runCheckedCommand(`command '${name}'`, command);
        return { name, ok: true, durationMs: Date.now() - started };
      } catch (err) {
        // A STOP of the command itself (exit code, timeout) is the outcome; a cancellation is not.
        if ((err as { type?: string }).type !== 'CommandFailed') throw err;
        return { name, ok: false, problem: (err as Error).message, durationMs: Date.now() - started };
      }
    },
  };
}
