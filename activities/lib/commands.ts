/**
 * Runs a program without a shell, with a time limit, in its own process group (so a timeout or a
 * cancellation ends everything it started), keeping its last lines — or, for programs whose output
 * is parsed (pnputil), all of it.
 */
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { spawn } from 'node:child_process';
import type { CommandSettings } from '../../config';
import { stopFailure } from '../errors';
import { activitySignal } from './context';

export interface CommandResult {
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Ended because the caller's signal aborted (the activity was cancelled). */
  cancelled: boolean;
  durationMs: number;
  /** The last lines of stdout and stderr together. */
  tail: string[];
  /** The whole output (stdout and stderr as they arrived, at most 16 MiB), with `keepOutput`. */
  output?: string;
}

export interface RunOptions {
  /** Called on output and every few seconds while the program runs (activities heartbeat here). */
  onProgress?: () => void;
  /** Keep the whole output, not only the last lines. */
  keepOutput?: boolean;
  /** Aborting ends the program and everything it started. */
  signal?: AbortSignal;
}

const TAIL_LINES = 20;
const MAX_OUTPUT = 16 * 1024 * 1024;
const PROGRESS_EVERY_MS = 5000;

export function runCommand(command: CommandSettings, options: RunOptions = {}): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const [program, ...args] = command.argv;
    // Why detached: the command gets its own process group, so a timeout ends everything it started,
    // not only its first process (a hung grandchild would otherwise hold the pipes open).
    // Why env: the environment as this process sees it now (an embedder such as jest gives modules
    // their own process.env, which spawn's default, the startup environment, would ignore).
    const child = spawn(program, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      detached: true,
      windowsHide: true,
      env: process.env,
    });
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const lines: string[] = [];
    const chunks: Buffer[] = [];
    let size = 0;
    const keep = (chunk: Buffer) => {
      if (options.keepOutput && size < MAX_OUTPUT) {
        chunks.push(chunk);
        size += chunk.length;
      }
      lines.push(
        ...chunk
          .toString('utf8')
          .split(/\r?\n/)
          .filter((l) => l.trim() !== ''),
      );
      if (lines.length > 2 * TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES);
      options.onProgress?.();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const ticker = setInterval(() => options.onProgress?.(), PROGRESS_EVERY_MS);
    let timedOut = false;
    let cancelled = false;
    let killer: NodeJS.Timeout | undefined;
    const end = () => {
      signalGroup('SIGTERM');
      killer = setTimeout(() => signalGroup('SIGKILL'), 5000);
      killer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      end();
    }, command.timeoutSeconds * 1000);
    const onAbort = () => {
      cancelled = true;
      end();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanUp = () => {
      clearTimeout(timer);
      clearInterval(ticker);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err) => {
      cleanUp();
      if (killer) clearTimeout(killer);
      // The code (ENOENT, EACCES) stays on the error, so callers can say what to do.
      reject(
        Object.assign(new Error(`cannot run ${program}: ${err.message}`), {
          code: (err as NodeJS.ErrnoException).code,
        }),
      );
    });
    child.once('close', (exitCode, signal) => {
      cleanUp();
      resolve({
        argv: command.argv,
        exitCode,
        signal,
        timedOut,
        cancelled,
        durationMs: Date.now() - started,
        tail: lines.slice(-TAIL_LINES),
        output: options.keepOutput ? Buffer.concat(chunks).toString('utf8') : undefined,
      });
    });
  });
}

/** The last non-empty lines of an output, for messages. */
export function lastLines(output: string, count = 5): string[] {
  return output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-count);
}

/**
 * Runs a configured command for an activity: heartbeats while it runs, ends it when the activity is
 * cancelled, and turns a non-zero exit or a timeout into a STOP (`CommandFailed`) whose message
 * names the command and carries its last lines of output.
 */
export async function runCheckedCommand(
  label: string,
  command: CommandSettings,
  options: RunOptions = {},
): Promise<CommandResult> {
  let beat = options.onProgress;
  try {
    const ctx = Context.current();
    beat ??= () => ctx.heartbeat({ command: label });
  } catch {
    // Not in an activity.
  }
  const signal = options.signal ?? activitySignal();
  const result = await runCommand(command, { ...options, signal, onProgress: beat });
  if (result.cancelled) throw new CancelledFailure(`${label} was ended: the step was cancelled`);
  if (result.timedOut || result.exitCode !== 0) {
    const why = result.timedOut
      ? `timed out after ${command.timeoutSeconds}s and was ended`
      : `exited with ${result.exitCode ?? result.signal}`;
    const tail = result.tail.slice(-5).join(' | ');
    throw stopFailure(
      'CommandFailed',
      `${label} (${command.argv.join(' ')}) ${why}${tail ? `: ${tail}` : ''}`,
    );
  }
  return result;
}
