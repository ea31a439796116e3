/** Relative paths as backups store them (forward slashes). Pure: used by workflows and activities. */

/**
 * The shape checks an archive path must pass before anything is written for it: relative, forward
 * slashes only, no `.`/`..`/empty segments, no drive letters, no control characters.
 * Returns the problem, or undefined.
 */
export function pathProblem(p: unknown): string | undefined {
  if (typeof p !== 'string' || p.length === 0) return 'the path is empty or not a string';
  if (p.length > 4096) return 'the path is longer than 4096 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'the path holds a control character';
  if (p.includes('\\')) return 'the path holds a backslash';
  if (p.startsWith('/')) return 'the path is absolute';
  if (/^[A-Za-z]:/.test(p)) return 'the path names a drive';
  // Segments told without splitting (every entry of an archive passes here): a '..' segment, then an
  // empty one (a doubled or trailing slash) or a '.' one.
  if (CLIMBS.test(p)) return "the path climbs out with '..'";
  if (EMPTY_OR_DOT.test(p)) return "the path has an empty or '.' segment";
  return undefined;
}

const CLIMBS = /(?:^|\/)\.\.(?:\/|$)/;
const EMPTY_OR_DOT = /\/\/|\/$|(?:^|\/)\.(?:\/|$)/;

/** Problems with a list of paths to restore: each must be a safe relative path, and none inside another. */
export function pathListProblems(field: string, paths: string[]): string[] {
  const problems: string[] = [];
  if (paths.length === 0) problems.push(`${field} must name at least one path`);
  paths.forEach((p, i) => {
    const problem = pathProblem(p);
    if (problem) problems.push(`${field}[${i}] ${JSON.stringify(p)} is refused: ${problem}`);
  });
  for (const a of paths) {
    for (const b of paths) {
      if (a !== b && b.startsWith(`${a}/`))
        problems.push(`${field}: ${JSON.stringify(b)} lies inside ${JSON.stringify(a)}; give one of them`);
    }
  }
  if (new Set(paths).size !== paths.length) problems.push(`${field} names a path twice`);
  return problems;
}
