/** The terminal renderings `lifeboat watch` and `status` use (pure functions, no server). */
import { formatProgress } from '../client/format';

const MiB = 1024 * 1024;

test('a progress bar with throughput and time left from two heartbeats', () => {
  const first = formatProgress(
    'writeBackup',
    { phase: 'archive', bytes: 100 * MiB, totalBytes: 400 * MiB, files: 10, total: 40 },
    undefined,
    1000,
  );
  expect(first).toBe(
    '  … writeBackup [archive] #####............... 25%, 100.0 MiB of 400.0 MiB, 10/40 files',
  );
  const second = formatProgress(
    'writeBackup',
    { phase: 'archive', bytes: 200 * MiB, totalBytes: 400 * MiB, files: 20, total: 40 },
    { bytes: 100 * MiB, at: 1000 },
    3000,
  );
  expect(second).toBe(
    '  … writeBackup [archive] ##########.......... 50%, 200.0 MiB of 400.0 MiB, 20/40 files, 50.0 MiB/s, 4 s left',
  );
});

test('files only, and details without numbers', () => {
  expect(formatProgress('verifyRestoredRoot', { phase: 'verify', files: 3, total: 12 }, undefined, 0)).toBe(
    '  … verifyRestoredRoot [verify] #####............... 25%, 3/12 files',
  );
  expect(formatProgress('runTargetCommand', { command: 'quiesce' }, undefined, 0)).toBe(
    '  … runTargetCommand command quiesce',
  );
});
