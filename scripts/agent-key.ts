/**
 * The key pair that signs an agent's announcements, made once (docker-compose.yml's one-shot
 * `lifeboat-agent-key`, or by hand on a new host):
 *
 *   LIFEBOAT_AGENT_CONFIG=/etc/lifeboat/lifeboat.agent.json \
 *     node --require tsx/cjs scripts/agent-key.ts <folder for the public key>
 *
 * The agent's name and the private key's path come from the agent's config (`agent.name`,
 * `agent.signingKey`); the public key goes to `<folder>/<name>.pub.asc`, the file the control plane's
 * `agents.<name>.publicKey` names. It never overwrites a key: with both files there it checks that they
 * are one pair; with only the private key it writes the public key again from it; a public key without
 * its private key stops it (a new pair would be a new identity the control plane does not trust yet).
 *
 * The private key is protected by a passphrase only when the config names one
 * (`agent.signingKeyPassphraseEnv`, read from that variable); otherwise it is a machine key like an SSH
 * host key, kept by its file mode (0600) on the agent's volume alone. Exit 0 when the pair is ready,
 * 1 with the reason otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { ConfigError } from '../config';
import { loadAgentConfig } from '../config/agent';

export interface AgentKey {
  agent: string;
  privateKey: string;
  publicKey: string;
  fingerprint: string;
  /** What was done: a new pair, the public key written again from the private key, or nothing. */
  action: 'made' | 'public key restored' | 'kept';
}

export class AgentKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentKeyError';
  }
}

const fingerprint = (key: openpgp.Key) => key.getFingerprint().toUpperCase();

async function readKey(file: string, what: string): Promise<openpgp.Key> {
  try {
    return await openpgp.readKey({ armoredKey: fs.readFileSync(file, 'utf8') });
  } catch (err) {
    throw new AgentKeyError(`the ${what} ${file} is not an armored OpenPGP key: ${(err as Error).message}`);
  }
}

/** Writes `text` to a new file only: an existing file (another run's key) is never replaced. */
function writeNew(file: string, text: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: mode === 0o600 ? 0o700 : 0o755 });
  fs.writeFileSync(file, text, { flag: 'wx', mode });
}

/** Makes the agent's key pair if it has none; checks an existing one. */
export async function ensureAgentKey(
  agentConfigFile: string,
  publicDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentKey> {
  const { agent } = loadAgentConfig(agentConfigFile);
  const sec = agent.signingKey;
  if (!sec)
    throw new AgentKeyError(
      `${agentConfigFile} has no agent.signingKey: name the file of the key that signs the announcements of agent '${agent.name}'`,
    );
  const pub = path.resolve(publicDir, `${agent.name}.pub.asc`);
  const result = (action: AgentKey['action'], key: openpgp.Key): AgentKey => ({
    agent: agent.name,
    privateKey: sec,
    publicKey: pub,
    fingerprint: fingerprint(key),
    action,
  });

  if (fs.existsSync(sec)) {
    const key = await readKey(sec, 'signing key');
    if (!key.isPrivate())
      throw new AgentKeyError(`the signing key ${sec} is a public key, not a private key`);
    if (!fs.existsSync(pub)) {
      writeNew(pub, key.toPublic().armor(), 0o644);
      return result('public key restored', key);
    }
    const listed = await readKey(pub, 'public key');
    if (fingerprint(listed) !== fingerprint(key))
      throw new AgentKeyError(
        `${pub} (${fingerprint(listed)}) is not the public key of ${sec} (${fingerprint(key)}); neither is replaced: remove the one that is wrong`,
      );
    return result('kept', key);
  }
  if (fs.existsSync(pub))
    throw new AgentKeyError(
      `${pub} exists without its private key ${sec}: restore the private key, or remove the public key to make a new pair`,
    );

  const passphraseEnv = agent.signingKeyPassphraseEnv;
  const passphrase = passphraseEnv ? env[passphraseEnv] : undefined;
  if (passphraseEnv && !passphrase)
    throw new AgentKeyError(
      `agent.signingKeyPassphraseEnv names ${passphraseEnv}, which is not set: set it to protect the new key, or provide the key pair yourself`,
    );
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: `${agent.name} (Lifeboat agent)` }],
    ...(passphrase ? { passphrase } : {}),
    format: 'armored',
  });
  writeNew(sec, privateKey, 0o600);
  writeNew(pub, publicKey, 0o644);
  return result('made', await readKey(pub, 'public key'));
}

async function main(): Promise<number> {
  const publicDir = process.argv[2];
  if (!publicDir || process.argv.length > 3) {
    console.error('usage: LIFEBOAT_AGENT_CONFIG=<agent config> agent-key.ts <folder for the public key>');
    return 1;
  }
  const file = path.resolve(process.env.LIFEBOAT_AGENT_CONFIG ?? 'lifeboat.agent.json');
  try {
    const k = await ensureAgentKey(file, publicDir);
    const done = { made: 'made', 'public key restored': 'public key written again', kept: 'already there' };
    console.log(
      `agent ${k.agent}: signing key ${k.privateKey} (${k.fingerprint}) ${done[k.action]}; the control plane trusts it with agents.${k.agent}.publicKey = ${k.publicKey}`,
    );
    return 0;
  } catch (err) {
    if (err instanceof AgentKeyError || err instanceof ConfigError) {
      console.error(`lifeboat agent key: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`lifeboat agent key: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
