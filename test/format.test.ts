/** The terminal renderings `lifeboat watch` and `status` use (pure functions, no server). */
import { describeWaiting, formatProgress } from '../client/format';

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

test("lifeboat status shows what approving a gate will do: the plan's summary, effects and newest changes", () => {
  const lines = describeWaiting({
    runbook: 'restore',
    target: 'demo-storage',
    state: 'waiting',
    startedAt: '2026-11-30T10:00:00.000Z',
    steps: [],
    decisions: [],
    facts: {},
    waiting: {
      kind: 'gate',
      step: 'gate:restore',
      gate: 'restore',
      reason: 'restore backup b1. Approving: replaces the live root with backup b1',
      since: '2026-11-30T10:01:00.000Z',
      allowed: ['approve', 'stop'],
      approvers: ['*'],
      quorum: 1,
      approvals: [],
      plan: {
        summary: 'replaces the live root with backup b1',
        effects: ['2 files replaced (1.5 KiB), 0 added, 0 removed (0 B), 9 unchanged'],
        newest: [{ path: 'notes/a.md', modifiedAt: '2026-11-30T09:59:00.000Z', bytes: 12 }],
      },
    },
  });
  expect(lines).toEqual(
    expect.arrayContaining([
      '  approving will: replaces the live root with backup b1',
      '    - 2 files replaced (1.5 KiB), 0 added, 0 removed (0 B), 9 unchanged',
      '      changed after the backup: notes/a.md at 2026-11-30T09:59:00.000Z (12 B)',
    ]),
  );
});
