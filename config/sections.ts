/**
 * What every section of the worker's config is built from: strict objects (an unknown key is named),
 * paths resolved against the config file's folder, bounded numbers, checks across settings, and how
 * zod's issues become the problems `ConfigError` lists.
 *
 * A schema's message is what follows the setting's full name: `must be a path (string)` becomes
 * `targets.demo.store.backups must be a path (string)`; one starting with `:` follows it directly.
 */
import { isObject } from '../common/objects';
import * as path from 'node:path';
import { z } from 'zod';

export const GIB = 1024 * 1024 * 1024;
const PATH = 'must be a path (string)';

export { isObject };

/** Whether `p` is `dir` or lies below it (both absolute). */
export function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}${path.sep}`);
}

/** Whether one of two folders holds the other (or they are the same). */
export function overlaps(a: string, b: string): boolean {
  return isWithin(a, b) || isWithin(b, a);
}

/** An object of known settings; `notObject` is the message when the value is not an object at all. */
export function section<Shape extends z.ZodRawShape>(notObject: string, shape: Shape) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `is not a known setting; known: ${known}` : notObject,
  });
}

/** An object of names the user picks (targets, gates, commands) to settings of one kind. */
export function entries<T extends z.ZodType>(value: T, notObject: string) {
  return z.record(z.string(), value, { error: notObject });
}

/** A string that is not blank; `message` for anything else. */
export const text = (message: string) => z.string({ error: message }).refine((s) => s.trim() !== '');

/** A path, resolved against the config file's folder `base`. */
export const filePath = (base: string, message: string | ((iss: { input?: unknown }) => string) = PATH) =>
  z
    .string({ error: message })
    .refine((s) => s.trim() !== '')
    .transform((p) => path.resolve(base, p));

export const requiredPath = (base: string) =>
  filePath(base, (iss) => (iss.input === undefined ? 'is required (a path)' : PATH));

export const int = (min: number) =>
  z.number({ error: `must be an integer of at least ${min}` }).refine((n) => n >= min && Number.isInteger(n));

export const num = (min: number) => z.number({ error: `must be a number of at least ${min}` }).min(min);

export const positive = (message: string) => z.number({ error: message }).positive();

export const envVar = (message: string) => z.string({ error: message }).regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

/** An array of strings, one problem (`message`) whatever is wrong with it. */
export const strings = (message: string, { nonEmpty = true, nonBlank = false } = {}) =>
  z.custom<string[]>(
    (v) =>
      Array.isArray(v) &&
      (!nonEmpty || v.length > 0) &&
      v.every((s) => typeof s === 'string' && (!nonBlank || s.trim() !== '')),
    { error: message, abort: false }, // z.custom aborts by default: other checks would not run
  );

export const httpUrl = z.string({ error: 'must be an http:// or https:// URL' }).refine((s) => {
  try {
    return ['http:', 'https:'].includes(new URL(s).protocol);
  } catch {
    return false;
  }
});

/** What a check across the settings of one section sees. */
export interface CrossCheck {
  /** Whether the setting at `keys` (below the section) parsed: the check may trust its value. */
  parsed(...keys: PropertyKey[]): boolean;
  /** A problem with the setting at `keys`: `message` follows its full name. */
  report(keys: PropertyKey[], message: string): void;
  /** A problem that names several settings, written out in full from the section's full name. */
  reportInFull(problem: (section: string) => string): void;
}

/**
 * A check across the settings of one section. Zod skips an object's refinements once one of its
 * settings failed; these run anyway (so every problem is reported at once) and read only the
 * settings `parsed` vouches for: the value of one that failed is still the raw input.
 */
export function crossCheck<T>(check: (value: T, at: CrossCheck) => void) {
  return z.superRefine<T>(
    (value, ctx) =>
      check(value, {
        // An unknown key or a problem found across settings leaves the values parsed.
        parsed: (...keys) =>
          !ctx.issues.some(
            (i) =>
              i.code !== 'unrecognized_keys' &&
              !(i.code === 'custom' && i.params?.across) &&
              keys.every((key, n) => i.path?.[n] === key),
          ),
        report: (keys, message) =>
          ctx.addIssue({ code: 'custom', path: keys, message, params: { across: true } }),
        reportInFull: (problem) => ctx.addIssue({ code: 'custom', message: '', params: { problem } }),
      }),
    { when: (payload) => isObject(payload.value) },
  );
}

function nameOf(keys: readonly PropertyKey[]): string {
  return keys
    .map((k, n) => (typeof k === 'number' ? `[${k}]` : n === 0 ? String(k) : `.${String(k)}`))
    .join('');
}

/** The problems of a failed parse, each naming the setting by its full path. */
export function problemsOf(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue): string[] => {
    const where = nameOf(issue.path);
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => `${where || 'config'}.${key} ${issue.message}`);
      case 'invalid_key':
        return problemsOf(issue.issues.map((i) => ({ ...i, path: [...issue.path, ...i.path] })));
      case 'custom':
        if (typeof issue.params?.problem === 'function') return [issue.params.problem(where)];
    }
    if (!where) return [issue.message];
    return [issue.message.startsWith(':') ? `${where}${issue.message}` : `${where} ${issue.message}`];
  });
}
