import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrustedKey } from '../../activities/lib/signing';
import type { DrillProof } from '../../common/drill';
import type { LifeboatConfig } from '../../config';
import { CONFIG_OPTION, JSON_OPTION, type Command, type CommandContext } from '../command';
import { load } from '../lazy';
import { CliError, badInput } from '../runs';
import { againstObjective } from './drills-list';

interface DrillKey extends TrustedKey {
  /** The targets whose `drill.publicKey` this key is. */
  targets: string[];
}

function readInput(file: string, what: string, hint: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw badInput(`no ${what} ${file}${hint}`);
    throw badInput(`cannot read the ${what} ${file}: ${code ?? (err as Error).message}`);
  }
}

/** The drill public keys of every target in the config: exactly the keys a proof may be signed by. */
async function drillKeys(config: LifeboatConfig): Promise<DrillKey[]> {
  const { KeyError, fingerprintOf, readPublicKey } = load.signing();
  const keys: DrillKey[] = [];
  for (const [name, target] of Object.entries(config.targets)) {
    if (!target.drill) continue;
    let key;
    try {
      key = await readPublicKey(target.drill.publicKey, `drill public key (targets.${name}.drill.publicKey)`);
    } catch (err) {
      if (err instanceof KeyError) throw badInput(`${err.message} (in ${config.source})`);
      throw err;
    }
    const fingerprint = fingerprintOf(key);
    const known = keys.find((k) => k.fingerprint === fingerprint);
    if (known) known.targets.push(name);
    else keys.push({ key, fingerprint, file: target.drill.publicKey, targets: [name] });
  }
  if (keys.length === 0)
    throw badInput(
      `no drill keys in ${config.source}: no target has a "drill" section with a publicKey to verify against`,
    );
  return keys;
}

function isDrillProofFile(value: unknown): value is { proof: DrillProof; contentSha256: string } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const proof = v.proof as Record<string, unknown> | undefined;
  return (
    typeof v.contentSha256 === 'string' &&
    typeof proof === 'object' &&
    proof !== null &&
    proof.kind === 'lifeboat.drillProof'
  );
}

export const command: Command = {
  name: 'proof verify',
  summary: "check a drill proof's signature against the config's drill keys, and its content hash",
  usage: '<file> [--signature <file>] [--json] [--config <file>]',
  examples: [
    'lifeboat proof verify /srv/drills/proofs/drDrill-storage-fullRestore-20250101T020000Z.json',
    'lifeboat proof verify proof.json --signature proof.json.asc --json',
  ],
  options: {
    signature: {
      type: 'string',
      value: 'file',
      description: 'the detached armored signature (default <file>.asc)',
    },
    ...JSON_OPTION,
    ...CONFIG_OPTION,
  },
  positionals: ['file'],
  server: false,
  async run(ctx) {
    const file = path.resolve(ctx.positionals[0]);
    const bytes = readInput(file, 'proof file', '');
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw badInput(`${file} is not JSON (${(err as Error).message}); a drill proof is a .json file`);
    }
    const signatureFile = path.resolve((ctx.values.signature as string | undefined) ?? `${file}.asc`);
    const signature = readInput(
      signatureFile,
      'signature file',
      ctx.values.signature ? '' : '; give --signature <file> if it is elsewhere',
    );
    const { localConfig } = load.localConfig();
    const { SignatureFormatError, canonicalSha256, verifyDetached } = load.signing();
    const config = localConfig(ctx.values as { config?: string });
    const keys = await drillKeys(config);

    let check;
    try {
      check = await verifyDetached(bytes, signature.toString('utf8'), keys);
    } catch (err) {
      if (err instanceof SignatureFormatError)
        throw badInput(`the signature file ${signatureFile} ${err.message}`);
      throw err;
    }
    if (check.verdict === 'bad')
      return fail(
        ctx,
        file,
        'the signature does not verify: the proof was changed after it was signed, or was signed by another key',
      );
    if (check.verdict === 'unknownKey')
      return fail(ctx, file, `signed by key ${check.issuer}, which is not a drill key in ${config.source}`);
    const signer = check.key as DrillKey;

    if (!isDrillProofFile(body))
      throw badInput(
        `${file} is signed by a drill key but is not a drill proof: it needs "proof" (kind lifeboat.drillProof) and "contentSha256"`,
      );
    const { proof, contentSha256 } = body;
    const recomputed = canonicalSha256(proof);
    if (recomputed !== contentSha256)
      return fail(
        ctx,
        file,
        `the content hash does not match: the file says contentSha256 ${contentSha256}, the proof hashes to ${recomputed}`,
      );
    // A key trusted for one target must not vouch for another target's drills.
    const ownKey = keys.find((k) => k.targets.includes(proof.target));
    if (ownKey && ownKey !== signer)
      return fail(
        ctx,
        file,
        `the proof is of target '${proof.target}', whose drill key is ${ownKey.fingerprint}, but it was signed by ${signer.fingerprint} (the drill key of ${signer.targets.join(', ')})`,
      );

    const signedBy = {
      fingerprint: signer.fingerprint,
      signedAt: check.signedAt,
      publicKey: signer.file,
      targets: signer.targets,
    };
    if (ctx.values.json) {
      ctx.out(
        JSON.stringify(
          {
            valid: true,
            file,
            signature: signatureFile,
            drillId: proof.drillId,
            target: proof.target,
            scenario: proof.scenario,
            passed: proof.passed,
            rto: proof.rto,
            rpo: proof.rpo,
            finishedAt: proof.timings?.finishedAt,
            signedBy,
            contentSha256,
            proof,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    const checks = Array.isArray(proof.checks) ? proof.checks : [];
    const lines = [
      `VALID drill proof ${file}`,
      `  drill      ${proof.drillId}${proof.workflowId ? ` (workflow ${proof.workflowId})` : ''}`,
      `  target     ${proof.target}`,
      `  scenario   ${proof.scenario}${proof.recovery ? ` (recovery: ${proof.recovery.runbook}, ${proof.recovery.state})` : ''}`,
      `  result     ${proof.passed ? 'PASSED' : 'FAILED'} (${checks.filter((c) => c.ok).length} of ${checks.length} checks passed)`,
      `  RTO        ${againstObjective(proof.rto?.achievedSeconds, proof.rto?.objectiveMinutes)}`,
      `  RPO        ${againstObjective(proof.rpo?.achievedSeconds, proof.rpo?.objectiveMinutes)}`,
    ];
    if (proof.backup)
      lines.push(
        `  backup     ${proof.backup.id}${proof.backup.manifestSha256 ? ` (manifest sha256 ${proof.backup.manifestSha256})` : ''}`,
      );
    if (proof.timings?.finishedAt) lines.push(`  finished   ${proof.timings.finishedAt}`);
    lines.push(
      `  signed by  ${signer.fingerprint}${check.signedAt ? ` at ${check.signedAt}` : ''} (drill key of ${signer.targets.join(', ')}: ${signer.file})`,
      `  content    sha256 ${contentSha256}`,
    );
    for (const line of lines) ctx.out(line);
    return 0;
  },
};

/** A proof that fails a check: exit 1 with the reason (and, with --json, a JSON verdict on stdout). */
function fail(ctx: CommandContext, file: string, problem: string): never {
  if (ctx.values.json) ctx.out(JSON.stringify({ valid: false, file, problem }, null, 2));
  throw new CliError(problem, 1);
}
