/** Short names for a run's files and folders. Pure: used by workflows and activities alike. */

/**
 * The random tail of a run id. Run ids are UUIDv7, whose leading digits are a timestamp: two runs
 * started in the same moment share them, so only the tail tells runs apart.
 */
export function runIdTail(runId: string): string {
  return runId.replace(/-/g, '').slice(-12);
}

/** `<UTC start, to the second>Z-<run id tail>`: sorts by time, unique per run. */
export function runTagOf(startTime: Date, runId: string): string {
  return `${startTime.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z-${runIdTail(runId)}`;
}
