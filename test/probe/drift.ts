/**
 * A runbook whose code drifts from its `meta.flow` on purpose (test/docs.test.ts): each scenario uses
 * a step, gate, hold or end the flow does not list, and `declared` uses only what it lists.
 */
import type { RunbookMeta } from '../../common/runbook';
import { runRunbook, type ActivityName } from '../../workflows/engine';

export const driftMeta: RunbookMeta = {
  name: 'driftProbe',
  title: 'Drift probe',
  summary: 'test-only',
  source: 'test',
  input: {
    scenario: {
      type: 'string',
      required: true,
      description: 'what to use',
      enum: ['declared', 'undeclaredStep', 'undeclaredGate', 'undeclaredHold', 'stepAsHold', 'undeclaredEnd'],
    },
    marker: { type: 'string', required: true, description: 'a file the declared step writes' },
  },
  gates: {
    listedGate: { description: 'in the flow', defaults: { automatic: true } },
    unlistedGate: { description: 'not in the flow', defaults: { automatic: true } },
  },
  requires: [],
  stops: [],
  flow: [
    { id: 'resolveTarget', next: ['listedStep'] },
    { id: 'listedStep', next: ['gate:listedGate'] },
    { id: 'gate:listedGate', next: ['listedHold'] },
    { id: 'listedHold', hold: true, next: ['end:done'] },
    { id: 'end:done' },
  ],
};

// The probe's activities are not in the production Activities type.
const probeWrite = 'probeWrite' as ActivityName;

export async function driftProbe(input: { target: string; scenario: string; marker: string }) {
  return runRunbook(driftMeta, input, async (run) => {
    switch (input.scenario) {
      case 'undeclaredStep':
        await run.step('undeclaredStep', probeWrite, [input.marker, 'written'] as never);
        break;
      case 'undeclaredGate':
        await run.gate('unlistedGate', 'a gate the flow does not list');
        break;
      case 'undeclaredHold':
        await run.hold('undeclaredHold', 'a hold the flow does not list', 'NoValidBackup');
        break;
      case 'stepAsHold':
        await run.hold('listedStep', 'a step used as a hold', 'NoValidBackup');
        break;
      case 'undeclaredEnd':
        return { outcome: 'undeclared' };
      default:
        await run.step('listedStep', probeWrite, [input.marker, 'written'] as never);
        await run.gate('listedGate', 'opens by policy');
        await run.hold('listedHold', 'a human does something, then retry', 'NoValidBackup');
    }
    return { outcome: 'done' };
  });
}
