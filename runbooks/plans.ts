/**
 * What a recovery runbook's gate says approving will do (`run.gate(name, reason, plan)`): what is
 * quarantined, what takes its place, what is lost, and the way back. Built from the facts the steps
 * before the gate found, so the approver sees the consequences, not just the verdict.
 */
import type { GatePlan } from '../common/types';

export function quarantinePlan(p: {
  /** The damaged file (and what travels with it). */
  file: string;
  /** Where it is kept: never deleted. */
  keptIn: string;
  /** What takes its place. */
  replacement: string;
  /** What the live file held that the replacement does not, when known. */
  lost?: string;
  /** How to undo after approving. */
  wayBack: string;
}): GatePlan {
  return {
    summary: `moves ${p.file} into ${p.keptIn} (kept, never deleted) and puts ${p.replacement} in its place`,
    effects: [...(p.lost ? [`not in the replacement: ${p.lost}`] : []), `the way back: ${p.wayBack}`],
  };
}
