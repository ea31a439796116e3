/**
 * Whether a config file parses in its format (TOML or JSON), and where it does not: the line and
 * column, never the text there (a config may hold a secret, and the reason goes into the status,
 * the audit ledger and webhooks).
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import { jsonSyntaxError } from './jsonSyntax';

export interface ParseProblem {
  problem: string;
  line?: number;
  column?: number;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Why `bytes` is not a usable config of `format` (undefined when it parses). Empty (or blank) counts
 * as unusable. Messages name the line and column, never the text there (it may hold a secret).
 */
export function configParseProblem(bytes: Buffer, format: 'toml' | 'json'): ParseProblem | undefined {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return { problem: 'the file is not valid UTF-8' };
  }
  if (text.trim() === '') return { problem: bytes.length === 0 ? 'the file is empty' : 'the file is blank' };
  if (format === 'json') {
    const error = jsonSyntaxError(text);
    if (error) {
      return {
        problem: `not valid JSON at line ${error.line}, column ${error.column}: ${error.message}`,
        line: error.line,
        column: error.column,
      };
    }
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { problem: 'the top level is not a JSON object' };
    }
    return undefined;
  }
  try {
    parseToml(text);
    return undefined;
  } catch (err) {
    // smol-toml's message is "Invalid TOML document: <what>" followed by the lines around the error.
    const what = String((err as Error).message)
      .split('\n')[0]
      .replace(/^Invalid TOML document:\s*/, '');
    if (err instanceof TomlError) {
      return {
        problem: `not valid TOML at line ${err.line}, column ${err.column}: ${what}`,
        line: err.line,
        column: err.column,
      };
    }
    return { problem: `not valid TOML: ${what}` };
  }
}

/** A config file (or backup) and whether it parses. */
export interface ConfigVerdict {
  /** Path (the config) or name (a backup). */
  file: string;
  valid: boolean;
  problem?: string;
  line?: number;
  column?: number;
  sha256?: string;
  size?: number;
}

export async function inspectConfigFile(
  file: string,
  format: 'toml' | 'json',
  label = file,
): Promise<ConfigVerdict> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      file: label,
      valid: false,
      problem: code === 'ENOENT' ? 'the file is missing' : `unreadable (${code})`,
    };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const problem = configParseProblem(bytes, format);
  return { file: label, valid: problem === undefined, ...problem, sha256, size: bytes.length };
}
