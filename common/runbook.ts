/** Runbook metadata: what the CLI lists, what the docs are generated from, what the engine enforces. */
import type { GatePolicy } from './types';
import type { InputSchema } from './schema';

export interface GateSpec {
  description: string;
  /** Defaults that a target's config may override per gate. */
  defaults: Partial<GatePolicy>;
}

/**
 * One node of a runbook's flowchart (the generated docs draw it in Mermaid). `id` is the name the
 * engine lists: a step's name, `gate:<name>` for a gate, a hold's name, or `end:<outcome>`.
 */
export interface FlowNode {
  id: string;
  /** What happens there, in the operator's words (default: the id). */
  label?: string;
  /** Where the run goes next; `when` labels a branch. No `next`: the run ends here. */
  next?: (string | { to: string; when: string })[];
  /** The node is a `run.hold(...)`: the run waits for work only a human can do (drawn as its own shape). */
  hold?: boolean;
}

export interface RunbookMeta {
  /** The workflow type name; also what `lifeboat start <runbook>` takes. */
  name: string;
  title: string;
  summary: string;
  /** The source procedure (file in procedures/) and the section it implements. */
  source: string;
  objectives?: { rtoMinutes?: number; rpoMinutes?: number };
  input: InputSchema;
  gates: Record<string, GateSpec>;
  /** Sections the target's config must have for this runbook (e.g. `store`). */
  requires: string[];
  /** STOP conditions, in the operator's words. */
  stops: string[];
  /**
   * The runbook checks further input against the worker's config (a device id, a package name) and
   * calls `run.acceptInput()` when done; otherwise the input counts as accepted once the target resolved.
   */
  checksInput?: boolean;
  /**
   * The runbook's steps, gates, holds and ends with their branches, starting at `resolveTarget` (the
   * engine's first step). `npm run docs` draws it; the engine fails a run (`RunbookBug`) that uses a
   * step, gate, hold or end (`end:<result.outcome>`, else `end:completed`) not listed here.
   */
  flow: FlowNode[];
  /**
   * A runbook over many targets (a fleet run) has no single target: its input has no `target`, this
   * names what it acts on (status, the RunbookTarget search attribute, e.g. `fleet:role=db`), and the
   * engine's first step resolves no target's config. Must not throw on any input.
   */
  targetless?: (input: Record<string, unknown>) => string;
}

export const DEFAULT_GATE_POLICY: GatePolicy = {
  approvers: ['*'],
  quorum: 1,
  onTimeout: 'stop',
  automatic: false,
};
