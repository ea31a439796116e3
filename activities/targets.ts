/** Resolves a target named in workflow input against the worker's config. */
import type { TargetView } from '../common/types';
import type { LifeboatConfig, TargetConfig } from '../worker/config';
import { invalidInput } from './errors';

/** Finds a target or explains which targets exist; used by every activity that takes a target name. */
export function findTarget(config: LifeboatConfig, name: string): TargetConfig {
  const target = config.targets[name];
  if (!target) {
    const known = Object.keys(config.targets).sort().join(', ');
    throw invalidInput(`unknown target '${name}'; the worker's config has: ${known}`);
  }
  return target;
}

/** A section of a target's config, or InvalidInput naming the target and the missing section. */
export function sectionOf<
  K extends 'store' | 'driverStore' | 'configFile' | 'auditChain' | 'panic' | 'health',
>(config: LifeboatConfig, targetName: string, key: K): NonNullable<TargetConfig[K]> {
  const section = findTarget(config, targetName)[key];
  if (section === undefined)
    throw invalidInput(`target '${targetName}' has no '${key}' section in the worker's config`);
  return section as NonNullable<TargetConfig[K]>;
}

/** Sections a workflow may learn a target has (never their contents). */
const SECTIONS = [
  'store',
  'root',
  'repository',
  'driverStore',
  'configFile',
  'auditChain',
  'panic',
  'health',
];

export function createTargetActivities(config: LifeboatConfig) {
  return {
    /**
     * Checks that `name` is a configured target with the sections `runbook` needs and returns what a
     * workflow may know of it: its name, description, gate policies and which sections it has.
     */
    async resolveTarget(runbook: string, name: string, requires: string[]): Promise<TargetView> {
      const target = findTarget(config, name);
      const has = (section: string) =>
        section.startsWith('commands.')
          ? target.commands[section.slice('commands.'.length)] !== undefined
          : (target as unknown as Record<string, unknown>)[section] !== undefined;
      const missing = requires.filter((section) => !has(section));
      if (missing.length > 0) {
        throw invalidInput(
          `target '${name}' has no ${missing.map((s) => `'${s}'`).join(', ')} ${missing.length > 1 ? 'sections' : 'section'} in the worker's config; ${runbook} needs ${missing.length > 1 ? 'them' : 'it'}`,
        );
      }
      const sections = SECTIONS.filter((s) => has(s));
      return {
        name,
        description: target.description,
        gates: target.gates,
        sections,
        notify: (config.notify?.webhooks.length ?? 0) > 0,
      };
    },
  };
}
