/**
 * The identities' public keys, read at the worker's start (and by `lifeboat audit verify`): a file
 * that is not an armored public key, or one key listed under two identities, is refused with the
 * setting named, so the worker does not start on a config it cannot trust.
 */
import type { IdentitySettings } from '../../config/identities';
import { readPublicKey, type TrustedKey } from './signing';

export interface IdentityKeys {
  identity: string;
  active: TrustedKey[];
  retired: TrustedKey[];
}

/** Reads every identity's keys; throws naming the setting of a bad file or a key listed twice. */
export async function loadIdentityKeys(settings: IdentitySettings = {}): Promise<IdentityKeys[]> {
  const out: IdentityKeys[] = [];
  const owner = new Map<string, string>();
  for (const [identity, s] of Object.entries(settings)) {
    const read = async (files: string[], field: string) =>
      Promise.all(
        files.map(async (file, n) => {
          const setting = `identities.${identity}.${field}[${n}]`;
          const key = await readPublicKey(file, `public key (${setting})`);
          const fingerprint = key.getFingerprint().toUpperCase();
          const before = owner.get(fingerprint);
          if (before && before !== setting)
            throw new Error(
              `${setting} (${file}) is key ${fingerprint}, already listed as ${before}: one key belongs to one identity`,
            );
          owner.set(fingerprint, setting);
          return { key, fingerprint, file };
        }),
      );
    out.push({
      identity,
      active: await read(s.keys, 'keys'),
      retired: await read(s.retiredKeys ?? [], 'retiredKeys'),
    });
  }
  return out;
}
