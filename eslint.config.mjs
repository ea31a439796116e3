// Lint rules of the house: typed rules for promises, and a hard wall between deterministic
// workflow code (workflows/, runbooks/, common/) and anything that does I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const nodeOnly = [
  'fs',
  'fs/*',
  'child_process',
  'path',
  'os',
  'crypto',
  'net',
  'http',
  'https',
  'better-sqlite3',
  'openpgp',
];
const restricted = {
  patterns: [
    ...nodeOnly.map((name) => ({
      group: [name, `node:${name}`],
      message: 'Workflow code must stay deterministic: do I/O in activities/.',
    })),
    {
      group: ['**/activities', '**/activities/*'],
      importNames: ['createActivities'],
      message: 'Import activity types only (import type).',
    },
    {
      group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
      message: 'Not available in the workflow sandbox.',
    },
  ],
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.tools/**',
      '.data/**',
      'coverage/**',
      'test-output/**',
      '.scratch/**',
      '.test-variants/**',
      'dist/**',
      'eslint.config.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.js', 'test/**/*.js', '*.js', '*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.js', 'test/**/*.js', '*.js', '*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['workflows/**/*.ts', 'runbooks/**/*.ts', 'common/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { ...restricted, patterns: restricted.patterns.map((p) => ({ ...p, allowTypeImports: true })) },
      ],
    },
  },
  prettier,
);
