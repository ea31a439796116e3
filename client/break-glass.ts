/**
 * The keys the break-glass commands (`archive list`, `archive extract`, `self restore`) are given by
 * their key flags (KEY_OPTIONS in command.ts): which key opens an archive and which public keys a
 * sidecar's signature is checked against. Keys come from files and passphrases from named
 * environment variables, never from the command line. The commands load this file when they run.
 */
import * as fsp from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { BreakGlassError, type BreakGlassKeys } from '../activities/lib/breakGlass';
import type { EncryptionSettings } from '../activities/lib/crypto';
import { readTrustedKeys } from '../activities/lib/sidecar';
import { KeyError, type TrustedKey } from '../activities/lib/signing';
import { CliError, badInput } from './runs';

const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Reads `--trusted-key` files; a file that is not a public key is bad input. */
export async function trustedKeysFrom(files: string[]): Promise<TrustedKey[]> {
  try {
    return await readTrustedKeys(files, 'trusted key (--trusted-key)');
  } catch (err) {
    if (err instanceof KeyError) throw badInput(err.message);
    throw err;
  }
}

/** Checks that `--key` names a readable armored private key before any archive is opened. */
async function checkPrivateKeyFile(file: string): Promise<void> {
  let armored: string;
  try {
    armored = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw badInput(`cannot read --key ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  try {
    await openpgp.readPrivateKey({ armoredKey: armored });
  } catch {
    const isPublic = await openpgp.readKey({ armoredKey: armored }).then(
      () => true,
      () => false,
    );
    throw badInput(
      isPublic
        ? `--key ${file} is a public key; give the private key the archive is encrypted to`
        : `--key ${file} is not an armored OpenPGP private key`,
    );
  }
}

/** The keys the flags name; `fallback` (a config's) when neither --key nor --passphrase-env is given. */
export async function keysFromFlags(
  values: Record<string, unknown>,
  fallback?: EncryptionSettings,
): Promise<BreakGlassKeys> {
  const key = values.key as string | undefined;
  const keyEnv = values['key-passphrase-env'] as string | undefined;
  const passphraseEnv = values['passphrase-env'] as string | undefined;
  for (const [flag, v] of [
    ['--key-passphrase-env', keyEnv],
    ['--passphrase-env', passphraseEnv],
  ] as const) {
    if (v !== undefined && !ENV.test(v))
      throw badInput(
        `${flag} must name an environment variable (the passphrase itself never goes on the command line)`,
      );
  }
  if (key && passphraseEnv)
    throw badInput('give --key or --passphrase-env, not both: an archive has one encryption mode');
  if (keyEnv && !key) throw badInput('--key-passphrase-env goes with --key');
  let encryption: EncryptionSettings;
  if (key) {
    await checkPrivateKeyFile(key);
    encryption = {
      recipients: [],
      privateKeys: [key],
      ...(keyEnv ? { privateKeyPassphraseEnv: keyEnv } : {}),
    };
  } else if (passphraseEnv) {
    if (!process.env[passphraseEnv])
      throw badInput(`the environment variable ${passphraseEnv} (--passphrase-env) is not set`);
    encryption = { passphraseEnv };
  } else if (fallback) encryption = fallback;
  else
    throw badInput('--key <private key file> or --passphrase-env <VARIABLE> is required to open an archive');
  const trusted = await trustedKeysFrom((values['trusted-key'] as string[] | undefined) ?? []);
  return { encryption, trusted };
}

/** A break-glass failure as the CLI reports it: bad input exits 2, a failed check 1. */
export function cliErrorOf(err: unknown): unknown {
  if (err instanceof BreakGlassError) return new CliError(err.message, err.badInput ? 2 : 1);
  return err;
}
