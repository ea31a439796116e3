/**
 * The agent's config file (config/agent.ts): every problem named by its setting; standby targets
 * (what a host-loss drill may run its sandbox on this host for) are not announced as held.
 */
import * as path from 'node:path';
import { ConfigError } from '../config';
import { parseAgentConfig } from '../config/agent';
import { tempDir } from './helpers';

const dir = tempDir('agent-config');
const file = path.join(dir, 'lifeboat.agent.json');
const root = (name: string) => ({
  root: path.join(dir, name, 'root'),
  repository: path.join(dir, name, 'repo'),
  encryption: { passphraseEnv: 'AGENT_CONFIG_TEST_PASSPHRASE' },
});
const drill = { directory: path.join(dir, 'drills'), signingKey: 'k.sec.asc', publicKey: 'k.pub.asc' };

function problems(raw: unknown): string[] {
  try {
    parseAgentConfig(raw, file);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('a valid config: the standby targets are readable by the activities, named apart', () => {
  const parsed = parseAgentConfig(
    {
      agent: { name: 'host-b' },
      targets: { own: root('own') },
      standby: { theirs: { ...root('theirs'), offsite: path.join(dir, 'offsite'), drill } },
    },
    file,
  );
  expect(parsed.standby).toEqual(['theirs']);
  expect(Object.keys(parsed.config.targets).sort()).toEqual(['own', 'theirs']);
  expect(parsed.agent).toMatchObject({ name: 'host-b', timeoutSeconds: 180, announceEverySeconds: 300 });
});

test('bad input is named by its setting', () => {
  expect(problems({ agent: { name: 'bad name!' }, targets: {}, extra: 1 })).toEqual(
    expect.arrayContaining([
      'config.extra is not a known setting of an agent; known: agent, targets, standby',
      expect.stringMatching(/^agent name must be letters, digits/),
    ]),
  );
  expect(
    problems({
      agent: { name: 'host-b' },
      targets: { same: root('same') },
      standby: { same: { ...root('same'), offsite: dir, drill }, bare: root('bare') },
    }),
  ).toEqual(
    expect.arrayContaining([
      "config.standby.same: 'same' is also in targets; a host holds a target or stands by for it",
      "config.standby.bare needs 'offsite' and 'drill': a host-loss drill of 'bare' here restores from the offsite copy alone",
    ]),
  );
  expect(problems({ agent: { name: 'host-b' }, targets: {}, standby: [] })).toContain(
    'config.standby must be an object of targets by name',
  );
});
