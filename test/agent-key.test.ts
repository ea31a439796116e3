/**
 * The agent's key pair one-shot (scripts/agent-key.ts, docker-compose.yml's lifeboat-agent-key): it
 * makes the pair once where the agent's config and the control plane's config expect it, the private
 * key readable by its owner only; it never replaces a key (a second run keeps the pair, a lost public
 * key is written again from the private key, a public key alone or two halves that do not match stop
 * it); and what it makes signs an announcement the public key verifies, as the control plane checks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTrustedKeys } from '../activities/lib/sidecar';
import { readSigningKey, signDetached, verifyDetached } from '../activities/lib/signing';
import { AgentKeyError, ensureAgentKey } from '../scripts/agent-key';
import { tempDir } from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_AGENT_KEY_PASSPHRASE';

/** A host folder with an agent config naming `keys/<name>.sec.asc`; returns the config's path. */
function host(agent: Record<string, unknown> = {}): { dir: string; file: string; sec: string; pub: string } {
  const dir = tempDir('agent-key');
  const file = path.join(dir, 'lifeboat.agent.json');
  const store = { primary: 's/graph.json', backups: 's/backups', quarantine: 's/quarantine' };
  fs.writeFileSync(
    file,
    JSON.stringify({
      agent: { name: 'host-a', signingKey: 'keys/host-a.sec.asc', ...agent },
      targets: { kg: { store } },
    }),
  );
  return {
    dir,
    file,
    sec: path.join(dir, 'keys', 'host-a.sec.asc'),
    pub: path.join(dir, 'public', 'host-a.pub.asc'),
  };
}

async function signsAndVerifies(sec: string, pub: string, passphraseEnv?: string): Promise<string> {
  const data = new TextEncoder().encode('{"kind":"lifeboat.agent"}');
  const signature = await signDetached(data, await readSigningKey(sec, passphraseEnv, 'agent'));
  const check = await verifyDetached(data, signature, await readTrustedKeys([pub], 'public key of agent'));
  return check.verdict;
}

test('makes the pair once, private key 0600, and a second run keeps it byte for byte', async () => {
  const h = host();
  const made = await ensureAgentKey(h.file, path.join(h.dir, 'public'));
  expect(made).toMatchObject({ agent: 'host-a', privateKey: h.sec, publicKey: h.pub, action: 'made' });
  expect(made.fingerprint).toMatch(/^[0-9A-F]{40}$/);
  expect(fs.statSync(h.sec).mode & 0o777).toBe(0o600);
  expect(fs.statSync(path.dirname(h.sec)).mode & 0o077).toBe(0);
  const before = [fs.readFileSync(h.sec, 'utf8'), fs.readFileSync(h.pub, 'utf8')];
  expect(before[1]).toContain('BEGIN PGP PUBLIC KEY BLOCK');

  const again = await ensureAgentKey(h.file, path.join(h.dir, 'public'));
  expect(again).toEqual({ ...made, action: 'kept' });
  expect([fs.readFileSync(h.sec, 'utf8'), fs.readFileSync(h.pub, 'utf8')]).toEqual(before);
  expect(await signsAndVerifies(h.sec, h.pub)).toBe('good');
});

test('a lost public key is written again from the private key', async () => {
  const h = host();
  const made = await ensureAgentKey(h.file, path.join(h.dir, 'public'));
  fs.rmSync(h.pub);
  const restored = await ensureAgentKey(h.file, path.join(h.dir, 'public'));
  expect(restored).toEqual({ ...made, action: 'public key restored' });
  expect(await signsAndVerifies(h.sec, h.pub)).toBe('good');
});

test('a public key without its private key, or two halves that do not match, stop it; nothing is replaced', async () => {
  const h = host();
  await ensureAgentKey(h.file, path.join(h.dir, 'public'));
  const pub = fs.readFileSync(h.pub, 'utf8');
  fs.rmSync(h.sec);
  await expect(ensureAgentKey(h.file, path.join(h.dir, 'public'))).rejects.toThrow(
    new AgentKeyError(
      `${h.pub} exists without its private key ${h.sec}: restore the private key, or remove the public key to make a new pair`,
    ),
  );
  expect(fs.existsSync(h.sec)).toBe(false);
  expect(fs.readFileSync(h.pub, 'utf8')).toBe(pub);

  // Another pair's private key beside this public key.
  const other = host();
  await ensureAgentKey(other.file, path.join(other.dir, 'public'));
  fs.mkdirSync(path.dirname(h.sec), { recursive: true });
  fs.copyFileSync(other.sec, h.sec);
  await expect(ensureAgentKey(h.file, path.join(h.dir, 'public'))).rejects.toThrow(
    /is not the public key of .*host-a\.sec\.asc .*neither is replaced/,
  );
  expect(fs.readFileSync(h.pub, 'utf8')).toBe(pub);
  expect(fs.readFileSync(h.sec, 'utf8')).toBe(fs.readFileSync(other.sec, 'utf8'));
});

test('a config that names a passphrase variable gets a protected key, and none while the variable is unset', async () => {
  const h = host({ signingKeyPassphraseEnv: PASSPHRASE_ENV });
  await expect(ensureAgentKey(h.file, path.join(h.dir, 'public'), {})).rejects.toThrow(
    `agent.signingKeyPassphraseEnv names ${PASSPHRASE_ENV}, which is not set`,
  );
  expect(fs.existsSync(h.sec)).toBe(false);
  expect(fs.existsSync(h.pub)).toBe(false);

  process.env[PASSPHRASE_ENV] = 'agent-key-test-passphrase';
  try {
    await ensureAgentKey(h.file, path.join(h.dir, 'public'));
    await expect(readSigningKey(h.sec, undefined, 'agent')).rejects.toThrow(/protected by a passphrase/);
    expect(await signsAndVerifies(h.sec, h.pub, PASSPHRASE_ENV)).toBe('good');
  } finally {
    delete process.env[PASSPHRASE_ENV];
  }
});

test('an agent config without a signing key, or not valid, is refused with the reason', async () => {
  const h = host({ signingKey: undefined });
  await expect(ensureAgentKey(h.file, path.join(h.dir, 'public'))).rejects.toThrow(
    /has no agent\.signingKey: name the file of the key that signs the announcements of agent 'host-a'/,
  );
  const bad = host({ name: 'not a name' });
  await expect(ensureAgentKey(bad.file, path.join(bad.dir, 'public'))).rejects.toThrow(
    /agent name must be letters/,
  );
  expect(fs.readdirSync(h.dir)).toEqual(['lifeboat.agent.json']);
});
