/** Whether a parsed JSON value is an object (not null, not an array): config, manifests, chain entries. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
