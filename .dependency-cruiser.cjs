/**
 * Which folder may import which (checked by `npm run lint`). The direction, lowest first:
 *
 *   common/ ← config/ ← activities/ ← worker/
 *   common/ ← workflows/ (engine) ← runbooks/ ← worker/
 *   client/ uses common/, config/, the local stores (activities/lib/) and the runbook registry;
 *   nothing imports client/ but the CLI's entry point (bin/), the scripts and the tests.
 *
 * Workflow code (workflows/, runbooks/) may import activity *types* (`import type`): the house rule.
 * Why a checker: the fleet issues cut along these seams; a folder cycle or a wrong arrow fails the
 * build rather than waiting for a review to notice.
 */
const SOURCE = '^(common|config|activities|workflows|runbooks|worker|client)/';

/** A rule: files in `from` may import (at run time) only from `allowed` (and node_modules, node:). */
function only(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: {
      path: SOURCE,
      pathNot: allowed,
      dependencyTypesNot: ['type-only'],
    },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment: 'Folders must not import each other in a loop.',
      severity: 'error',
      scope: 'folder',
      // a folder's path has no trailing slash (`workflows`, `activities/lib`)
      from: { path: '^(common|config|activities|workflows|runbooks|worker|client)(/|$)' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycle',
      comment: 'Modules must not import each other in a loop (at run time; a type-only import is no loop).',
      severity: 'error',
      from: { path: SOURCE },
      to: {
        circular: true,
        dependencyTypesNot: ['type-only'],
        viaOnly: { dependencyTypesNot: ['type-only'] },
      },
    },
    only('common-stands-alone', '^common/', ['^common/'], 'common/ is pure, workflow-safe code.'),
    only(
      'config-on-common',
      '^config/',
      ['^(common|config)/'],
      'config/ reads settings; it uses common/ only.',
    ),
    only(
      'activities-below-worker',
      '^activities/',
      ['^(common|config|activities)/'],
      'Activities use common/ and config/; never the worker, the CLI or workflow code.',
    ),
    only(
      'engine-below-runbooks',
      '^workflows/',
      ['^(common|workflows)/'],
      'The engine and the control plane workflows know no runbook (activity types only).',
    ),
    only(
      'runbooks-on-engine',
      '^runbooks/',
      ['^(common|workflows|runbooks)/'],
      'Runbooks are workflow code: the engine, common/, and activity types only.',
    ),
    only(
      'worker-not-client',
      '^worker/',
      ['^(common|config|activities|workflows|runbooks|worker)/'],
      'The worker runs without the CLI.',
    ),
    only(
      'client-on-stores',
      '^client/',
      ['^(common|config|client)/', '^activities/lib/', '^runbooks/registry\\.ts$'],
      'The CLI uses common/, config/, the local stores (activities/lib/) and the runbook registry.',
    ),
    {
      name: 'client-only-from-cli',
      comment: "Nothing imports client/ but the CLI's entry point (bin/), scripts and tests.",
      severity: 'error',
      from: { path: '^(common|config|activities|workflows|runbooks|worker)/' },
      to: { path: '^client/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.test-variants|\\.scratch|\\.tools|test/histories)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
