/**
 * Error classes shared by activities and workflows. Activities throw `ApplicationFailure`s whose
 * `type` is one of these names; the engine decides from the type what the run does next.
 */

/** Bad workflow input: the run fails at once, non-retryably, with the message. */
export const INVALID_INPUT = 'InvalidInput';

/**
 * STOP classes: the procedure must not guess. These are never retried automatically; the run
 * waits for a responder to `retry`, `skip` (where allowed) or `stop`.
 */
export const STOP_CLASSES = [
  'ChecksumMismatch',
  'MissingManifest',
  'IntegrityFailure',
  'VersionMismatch',
  'ModuleSetMismatch',
  'MissingPermission',
  'AmbiguousTarget',
  'NoValidBackup',
  'LockHeld',
  'UnsupportedFile',
  'DiskSpace',
  'CommandFailed',
  'KeyProblem',
  'HealthCheckFailed',
  'DeviceProblem',
] as const;
export type StopClass = (typeof STOP_CLASSES)[number];

/** Error types an activity must never retry by itself. */
export const NON_RETRYABLE_TYPES: string[] = [INVALID_INPUT, ...STOP_CLASSES];
