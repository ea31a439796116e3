/**
 * Signing decisions from the CLI (`--key`): reads the person's private key, unlocks it with a
 * passphrase from a named environment variable or, in a terminal, a prompt (never an argument),
 * builds the statement that binds exactly what the run shows (common/statements.ts) and signs it.
 * OpenPGP is loaded when a decision is signed: the commands that take --key load this file always.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as readline from 'node:readline';
import { Writable } from 'node:stream';
import type { PrivateKey } from 'openpgp';
import {
  DEFAULT_STATEMENT_SECONDS,
  MAX_STATEMENT_SECONDS,
  canonicalJson,
  type Binding,
  type DecisionStatement,
  type SignedDecision,
} from '../common/statements';
import type { OptionSpec } from './command';
import { load } from './lazy';
import { badInput } from './runs';

export const DEFAULT_PASSPHRASE_ENV = 'LIFEBOAT_KEY_PASSPHRASE';

export const SIGN_OPTIONS: Record<string, OptionSpec> = {
  key: {
    type: 'string',
    value: 'file',
    description: 'your armored OpenPGP private key: signs the decision (required at a signed gate)',
  },
  'key-passphrase-env': {
    type: 'string',
    value: 'VARIABLE',
    description: `the environment variable holding the key's passphrase (default ${DEFAULT_PASSPHRASE_ENV}; asked in a terminal when unset)`,
  },
  expires: {
    type: 'string',
    value: 'minutes',
    description: `how long the signature may be used (default ${DEFAULT_STATEMENT_SECONDS / 60}, at most ${MAX_STATEMENT_SECONDS / 60})`,
  },
};

const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Asks for the passphrase without echoing it. */
async function prompt(question: string): Promise<string> {
  const muted = new Writable({ write: (_c, _e, done) => done() });
  process.stderr.write(question);
  const rl = readline.createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** Reads and unlocks `--key`; every problem is bad input naming the flag or the variable. */
export async function readPersonalKey(values: Record<string, unknown>): Promise<PrivateKey> {
  const openpgp = load.openpgp();
  const file = values.key as string;
  const envName = (values['key-passphrase-env'] as string | undefined) ?? DEFAULT_PASSPHRASE_ENV;
  if (!ENV.test(envName))
    throw badInput('--key-passphrase-env must name an environment variable (never the passphrase itself)');
  let armored: string;
  try {
    armored = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw badInput(`cannot read --key ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  let key: PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey: armored });
  } catch {
    const isPublic = await openpgp.readKey({ armoredKey: armored }).then(
      () => true,
      () => false,
    );
    throw badInput(
      isPublic
        ? `--key ${file} is a public key; give your private key (only it can sign)`
        : `--key ${file} is not an armored OpenPGP private key`,
    );
  }
  if (key.isDecrypted()) return key;
  let passphrase = process.env[envName];
  if (!passphrase) {
    if (!process.stdin.isTTY)
      throw badInput(
        `the key ${file} is protected by a passphrase and the environment variable ${envName} is not set; set it (or name another with --key-passphrase-env), or run in a terminal to be asked`,
      );
    passphrase = await prompt(`passphrase of ${file}: `);
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch {
    throw badInput(`the passphrase in ${envName} does not unlock the key ${file}`);
  }
}

/** `--expires` in seconds (bad input when it is not a number of minutes within the limit). */
function lifetime(values: Record<string, unknown>): number {
  const raw = values.expires as string | undefined;
  if (raw === undefined) return DEFAULT_STATEMENT_SECONDS;
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes * 60 > MAX_STATEMENT_SECONDS)
    throw badInput(`--expires must be a number of minutes above 0 and at most ${MAX_STATEMENT_SECONDS / 60}`);
  return Math.round(minutes * 60);
}

/** Builds the statement for `binding` as `identity` and signs it with the key of `values.key`. */
export async function signDecision(
  values: Record<string, unknown>,
  identity: string,
  binding: Binding,
  comment?: string,
): Promise<SignedDecision> {
  const key = await readPersonalKey(values);
  const now = Date.now();
  const statement: DecisionStatement = {
    kind: 'lifeboat.decision',
    version: 1,
    ...binding,
    identity,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + lifetime(values) * 1000).toISOString(),
    nonce: randomUUID(),
    ...(comment ? { comment } : {}),
  };
  const text = canonicalJson(statement);
  const openpgp = load.openpgp();
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(text) });
  const signature = await openpgp.sign({ message, signingKeys: key, detached: true, format: 'armored' });
  return { statement: text, signature };
}

/** The signer `decide` and `startRunbook` take, when `--key` is given; `--key` needs `--as`. */
export function signerFrom(
  values: Record<string, unknown>,
  identity: string | undefined,
  comment?: string,
): ((binding: Binding) => Promise<SignedDecision>) | undefined {
  if (values.key === undefined) {
    for (const flag of ['key-passphrase-env', 'expires'])
      if (values[flag] !== undefined) throw badInput(`--${flag} goes with --key`);
    return undefined;
  }
  if (!identity)
    throw badInput('--key needs --as <identity>: the name your key is listed under in the config');
  return (binding) => signDecision(values, identity, binding, comment);
}
