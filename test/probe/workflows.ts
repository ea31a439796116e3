/**
 * A probe runbook for the engine tests: exercises compensations, skippable steps, exhausted
 * retries and gate timeouts with small test activities (test/probe/activities.ts).
 */
import type { RunbookMeta } from '../../common/runbook';
import { runRunbook, type ActivityName } from '../../workflows/engine';

export const probeMeta: RunbookMeta = {
  name: 'engineProbe',
  title: 'Engine probe',
  summary: 'test-only',
  source: 'test',
  input: {
    scenario: {
      type: 'string',
      required: true,
      description: 'what to exercise',
      enum: ['compensate', 'skip', 'exhaust', 'timeoutStop', 'timeoutProceed'],
    },
    marker: { type: 'string', required: true, description: 'a file the probe writes' },
  },
  gates: {
    proceed: { description: 'test gate', defaults: { approvers: ['*'], quorum: 1 } },
    // An hour by default: the engine test configures a second for the target (config wins).
    quick: { description: 'times out', defaults: { timeoutSeconds: 3600, onTimeout: 'stop' } },
    quickProceed: {
      description: 'times out and proceeds',
      defaults: { timeoutSeconds: 3600, onTimeout: 'proceed' },
    },
  },
  requires: [],
  stops: [],
  flow: [
    {
      id: 'resolveTarget',
      next: [
        { to: 'writeMarker', when: 'compensate' },
        { to: 'failsOnce', when: 'skip' },
        { to: 'flaky', when: 'exhaust' },
        { to: 'gate:quick', when: 'timeoutStop' },
        { to: 'gate:quickProceed', when: 'timeoutProceed' },
      ],
    },
    {
      id: 'writeMarker',
      next: [
        { to: 'gate:proceed', when: 'compensate' },
        { to: 'end:completed', when: 'skip' },
      ],
    },
    { id: 'gate:proceed', next: ['end:completed'] },
    { id: 'failsOnce', next: ['writeMarker'] },
    { id: 'flaky', next: ['end:completed'] },
    { id: 'gate:quick', next: ['end:completed'] },
    { id: 'gate:quickProceed', next: ['end:completed'] },
    { id: 'end:completed' },
  ],
};

// The probe's activities are not in the production Activities type.
const probe = (name: string) => name as ActivityName;

export async function engineProbe(input: { target: string; scenario: string; marker: string }) {
  return runRunbook(probeMeta, input, async (run) => {
    switch (input.scenario) {
      case 'compensate':
        await run.step('writeMarker', probe('probeWrite'), [input.marker, 'written'] as never, {
          compensation: { name: 'removeMarker', activity: probe('probeRemove'), args: [input.marker] },
        });
        await run.gate('proceed', 'waits so that the test can stop it');
        return 'not stopped';
      case 'skip': {
        const value = await run.step(
          'failsOnce',
          probe('probeFail'),
          ['ChecksumMismatch', 'stop class'] as never,
          {
            skippable: true,
            skipValue: 'skipped' as never,
          },
        );
        await run.step('writeMarker', probe('probeWrite'), [input.marker, String(value)] as never);
        return value;
      }
      case 'exhaust':
        await run.step('flaky', probe('probeFail'), ['', 'transient trouble'] as never, {
          retry: { maximumAttempts: 2, initialInterval: '100 milliseconds' },
        });
        return 'recovered';
      case 'timeoutStop':
        await run.gate('quick', 'nobody will answer');
        return 'not reached';
      default:
        await run.gate('quickProceed', 'nobody will answer');
        return 'proceeded';
    }
  });
}
