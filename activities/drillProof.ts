/**
 * Activities of drDrill that make a drill provable: the signed drill proof and the drill's record
 * in the catalog (`lifeboat drills list`).
 *
 * A proof is `<drill.directory>/proofs/<drillId>.json` holding `{proof, contentSha256, signedBy}`
 * and `<drillId>.json.asc`, a detached armored OpenPGP signature over the .json file's exact bytes
 * made with the target's drill signing key. `lifeboat proof verify` checks both against the drill
 * public keys of the config (see client/commands/proof-verify.ts).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DrillProof, DrillRecord } from '../common/drill';
import type { DrillSettings, LifeboatConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import type { Catalog } from './lib/catalog';
import { writeFileAtomic } from './lib/files';
import {
  KeyError,
  canonicalSha256,
  fingerprintOf,
  readPublicKey,
  readSigningKey,
  signDetached,
  verifyDetached,
} from './lib/signing';
import { findTarget } from './targets';

/** What a drill id may look like: it names the proof file. */
const DRILL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The file a signed proof is written to. */
export interface SignedDrillProof {
  path: string;
  signaturePath: string;
  contentSha256: string;
  /** Fingerprint of the signing key (upper-case hex). */
  fingerprint: string;
}

/** The JSON a proof file holds. */
export interface DrillProofFile {
  proof: DrillProof;
  contentSha256: string;
  signedBy: string;
}

function drillOf(config: LifeboatConfig, targetName: string): DrillSettings {
  const drill = findTarget(config, targetName).drill;
  if (!drill) throw invalidInput(`target '${targetName}' has no 'drill' section in the worker's config`);
  return drill;
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function createDrillProofActivities(config: LifeboatConfig, catalog: Catalog) {
  return {
    /**
     * Writes the drill proof and its detached signature (atomically; a retry with the same proof
     * keeps a pair that already verifies). A key that is missing, not a private key, locked with a
     * passphrase that is wrong or not set, or whose public key in the config is another key STOPs
     * with `KeyProblem`.
     */
    async signDrillProof(target: string, proof: DrillProof): Promise<SignedDrillProof> {
      const drill = drillOf(config, target);
      if (proof.target !== target)
        throw invalidInput(`the proof names target '${proof.target}' but is signed for target '${target}'`);
      if (typeof proof.drillId !== 'string' || !DRILL_ID.test(proof.drillId))
        throw invalidInput(
          `the drill id '${String(proof.drillId)}' must be letters, digits, '.', '_' and '-' (at most 200)`,
        );
      const setting = `targets.${target}.drill`;
      let signingKey;
      let publicKey;
      try {
        signingKey = await readSigningKey(drill.signingKey, drill.signingKeyPassphraseEnv, setting);
        publicKey = await readPublicKey(drill.publicKey, `drill public key (${setting}.publicKey)`);
      } catch (err) {
        if (err instanceof KeyError) throw stopFailure('KeyProblem', `target '${target}': ${err.message}`);
        throw err;
      }
      const fingerprint = fingerprintOf(signingKey);
      if (fingerprintOf(publicKey) !== fingerprint) {
        throw stopFailure(
          'KeyProblem',
          `target '${target}': the drill public key ${drill.publicKey} (${fingerprintOf(publicKey)}) does not belong to the signing key ${drill.signingKey} (${fingerprint}); lifeboat proof verify would reject every proof`,
        );
      }

      const contentSha256 = canonicalSha256(proof);
      const body: DrillProofFile = { proof, contentSha256, signedBy: fingerprint };
      const bytes = Buffer.from(`${JSON.stringify(body, null, 2)}\n`);
      const file = path.join(drill.directory, 'proofs', `${proof.drillId}.json`);
      const signatureFile = `${file}.asc`;
      const result = { path: file, signaturePath: signatureFile, contentSha256, fingerprint };

      // A retry after both files were written: keep them if they still form a valid pair.
      const [existing, existingSignature] = await Promise.all([
        readIfExists(file),
        readIfExists(signatureFile),
      ]);
      if (existing?.equals(bytes) && existingSignature) {
        const trusted = [{ key: publicKey, fingerprint, file: drill.publicKey }];
        const check = await verifyDetached(bytes, existingSignature.toString('utf8'), trusted).catch(
          () => undefined,
        );
        if (check?.verdict === 'good') return result;
      }

      let signature: string;
      try {
        signature = await signDetached(bytes, signingKey);
      } catch (err) {
        if (err instanceof KeyError) throw stopFailure('KeyProblem', `target '${target}': ${err.message}`);
        throw err;
      }
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, bytes);
      await writeFileAtomic(signatureFile, signature);
      return result;
    },

    /** Records the drill in the catalog, replacing an earlier record with the same drill id. */
    async recordDrill(record: DrillRecord): Promise<void> {
      if (typeof record.drillId !== 'string' || record.drillId === '')
        throw invalidInput('a drill record needs a drillId');
      findTarget(config, record.target);
      catalog.recordDrill(record);
    },
  };
}
