/** Runs a target's configured command without a shell, with a timeout, keeping its last lines. */
import { spawn } from 'node:child_process';
import type { CommandSettings } from '../../worker/config';

export interface CommandResult {
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** The last lines of stdout and stderr together. */
  tail: string[];
}

export function runCommand(command: CommandSettings, onOutput?: () => void): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const [program, ...args] = command.argv;
    // Why detached: the command gets its own process group, so a timeout ends everything it started,
    // not only its first process (a hung grandchild would otherwise hold the pipes open).
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false, detached: true });
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const lines: string[] = [];
    const keep = (chunk: Buffer) => {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l.trim() !== ''),
      );
      if (lines.length > 40) lines.splice(0, lines.length - 40);
      onOutput?.();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL'), 5000).unref();
    }, command.timeoutSeconds * 1000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${program}: ${err.message}`));
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        argv: command.argv,
        exitCode,
        signal,
        timedOut,
        durationMs: Date.now() - started,
        tail: lines.slice(-20),
      });
    });
  });
}
