/**
 * The control plane's side of the fleet: which agents may announce targets (each with the public key
 * that signs its announcements: no other process can claim its targets), and the gate policies of
 * targets held by agents (an agent's config holds its targets' paths and commands, never who may
 * approve).
 */
import { z } from 'zod';
import { AGENT_NAME } from '../common/agents';
import { entries, filePath, int, section, strings } from './sections';
import { gate } from './targets';

export const agents = (base: string) =>
  entries(
    section('must be an object like {"publicKey": "keys/host-a.pub.asc"}', {
      /** The armored public key of the agent's announcement signing key. */
      publicKey: filePath(base),
      /**
       * Targets of other agents this one may stand by for (its config's `standby`): where a host-loss
       * drill may run its sandbox, and whose drill records it may report. None unless listed here.
       */
      standby: strings('must be an array of target names', { nonEmpty: false }).optional(),
    }),
    'must be an object of agent name to {"publicKey": "<file>"}',
  ).check(
    z.superRefine((value, ctx) => {
      for (const name of Object.keys(value))
        if (!AGENT_NAME.test(name))
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'is not a usable agent name (letters, digits, . _ -)',
          });
    }),
  );

export const policies = entries(
  section('must be an object like {"gates": {"restore": {"approvers": ["alice"]}}}', {
    gates: entries(gate, 'must be an object of gate name to policy').default({}),
    signedStop: z.boolean({ error: 'must be true or false' }).optional(),
    /** Seconds a step of this target waits for its agent to pick it up (default: the agent's own). */
    agentTimeoutSeconds: int(5).optional(),
  }),
  'must be an object of target name to {"gates": {...}}',
);
