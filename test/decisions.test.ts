/** The decision checks as pure functions of a run's status (no server). */
import type { RunStatus } from '../common/types';
import { checkApprove, checkRetry, checkSkip, checkStop } from '../workflows/engine/decisions';

function status(extra: Partial<RunStatus> = {}): RunStatus {
  return {
    runbook: 'corruptedStoreRecovery',
    target: 'demo',
    state: 'running',
    startedAt: '',
    steps: [],
    decisions: [],
    facts: {},
    currentStep: 'findValidBackup',
    ...extra,
  };
}

const atGate = status({
  state: 'waiting',
  waiting: {
    kind: 'gate',
    step: 'gate:restore',
    gate: 'restore',
    reason: 'r',
    since: '',
    allowed: ['approve', 'stop'],
    approvers: ['alice', 'bob'],
    quorum: 2,
    approvals: [{ actor: 'alice', at: '' }],
  },
});
const afterFailure = status({
  state: 'waiting',
  waiting: { kind: 'failure', step: 'findValidBackup', reason: 'r', since: '', allowed: ['retry', 'stop'] },
});

test('approve', () => {
  expect(checkApprove(status(), ['restore'], { actor: 'bob' })).toBe(
    'the run is not waiting for a decision (state: running, step: findValidBackup)',
  );
  expect(checkApprove(status({ state: 'completed' }), ['restore'], { actor: 'bob' })).toMatch(
    /has ended \(state: completed\)/,
  );
  expect(checkApprove(atGate, ['restore'], { actor: '' })).toMatch(/actor is required/);
  expect(checkApprove(atGate, ['restore'], { actor: 'bob', gate: 'merge' })).toBe(
    "unknown gate 'merge'; corruptedStoreRecovery has gates: restore",
  );
  expect(checkApprove(atGate, ['restore', 'merge'], { actor: 'bob', gate: 'merge' })).toBe(
    "gate 'merge' is not open for approval; the run waits at gate 'restore'",
  );
  expect(checkApprove(atGate, ['restore'], { actor: 'eve' })).toBe(
    "'eve' may not approve gate 'restore'; allowed approvers: alice, bob",
  );
  expect(checkApprove(atGate, ['restore'], { actor: 'alice' })).toMatch(/already approved .*1 of 2/);
  expect(checkApprove(atGate, ['restore'], { actor: ' bob ' })).toBeUndefined();
  expect(checkApprove(afterFailure, ['restore'], { actor: 'bob' })).toBe(
    "the run waits after step 'findValidBackup' failed, not at a gate: send retry, stop",
  );
});

test('retry, skip, stop', () => {
  expect(checkRetry(afterFailure, { actor: 'bob' })).toBeUndefined();
  expect(checkRetry(atGate, { actor: 'bob' })).toMatch(/waits at gate 'restore', not after a failure/);
  expect(checkSkip(afterFailure, { actor: 'bob' })).toBe(
    "step 'findValidBackup' cannot be skipped; send retry or stop",
  );
  expect(checkStop(atGate, false, { actor: 'bob', reason: '' })).toMatch(/reason is required/);
  expect(checkStop(status(), false, { actor: 'bob', reason: 'x' })).toBeUndefined();
  expect(checkStop(status(), true, { actor: 'bob', reason: 'x' })).toBe('the run is already stopping');
  expect(checkStop(status({ state: 'stopped' }), false, { actor: 'bob', reason: 'x' })).toMatch(/has ended/);
  expect(checkRetry(afterFailure, undefined as never)).toMatch(/needs an object/);
});
