/**
 * Configured commands run without a shell, with a timeout that ends everything they started, and
 * with their last lines kept: real processes, no server.
 */
import { runCommand } from '../activities/lib/commands';
import { processRunning } from './helpers';

test('arguments reach the program as they are: no shell expands them', async () => {
  const result = await runCommand({
    argv: [process.execPath, '-e', 'console.log(process.argv.slice(1).join("|"))', '$HOME', '*', 'a b;c'],
    timeoutSeconds: 30,
  });
  expect(result).toMatchObject({ exitCode: 0, timedOut: false });
  expect(result.tail).toEqual(['$HOME|*|a b;c']);
});

test('a failing command reports its exit code and keeps its last 20 lines of stdout and stderr', async () => {
  const script =
    'for (let i = 1; i <= 50; i++) console.log("line " + i); console.error("fatal: disk gone"); process.exit(3)';
  const result = await runCommand({ argv: [process.execPath, '-e', script], timeoutSeconds: 30 });
  expect(result.exitCode).toBe(3);
  expect(result.tail).toHaveLength(20);
  expect(result.tail).toContain('fatal: disk gone');
  expect(result.tail).toContain('line 50');
  expect(result.tail).not.toContain('line 20');
});

test('a command that hangs past its timeout is ended with everything it started', async () => {
  // The command starts a grandchild that would hold the output pipe open for a minute, then hangs.
  const script = `
    const { spawn } = require('node:child_process');
    const g = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: ['ignore', 'inherit', 'inherit'] });
    console.log('grandchild ' + g.pid);
    setTimeout(() => {}, 60000);`;
  const started = Date.now();
  const result = await runCommand({ argv: [process.execPath, '-e', script], timeoutSeconds: 1 });
  expect(result.timedOut).toBe(true);
  expect(result.signal).toBe('SIGTERM');
  expect(Date.now() - started).toBeLessThan(10000);
  const grandchild = Number(/grandchild (\d+)/.exec(result.tail.join('\n'))![1]);
  expect(processRunning(grandchild)).toBe(false);
});

test('a program that does not exist is an error naming it', async () => {
  await expect(runCommand({ argv: ['/nonexistent/lifeboat-nothing'], timeoutSeconds: 5 })).rejects.toThrow(
    /cannot run \/nonexistent\/lifeboat-nothing: .*ENOENT/,
  );
});

test('aborting the signal (a cancelled step) ends the command and everything it started', async () => {
  const controller = new AbortController();
  const running = runCommand(
    {
      argv: [process.execPath, '-e', 'console.log("pid " + process.pid); setInterval(() => {}, 1000)'],
      timeoutSeconds: 600,
    },
    { signal: controller.signal, onProgress: () => controller.abort() },
  );
  const result = await running;
  expect(result).toMatchObject({ cancelled: true, timedOut: false, signal: 'SIGTERM' });
  expect(processRunning(Number(/pid (\d+)/.exec(result.tail.join('\n'))![1]))).toBe(false);
});
