// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** The SDK's public entry points only: its `lib/` files move between releases. */
const SDK_INTERNALS = { group: ['@temporalio/*/lib/*'], message: "import from the package's public index" };

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      // Prettier wraps code at 120; this also holds comments and strings to it.
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'no-restricted-imports': ['error', { patterns: [SDK_INTERNALS] }],
    },
  },
  {
    // The npm bin entry is plain CommonJS run by Node: it loads tsx, then the TypeScript CLI.
    files: ['bin/**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Plain ES modules Node preloads (`--import`).
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: nothing that touches the machine.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            SDK_INTERNALS,
            {
              group: ['node:*', 'pg', 'pg-*', '../activities/*', '../store/*', '../engine/*', '../api/*'],
              message: 'workflow code imports only @temporalio/workflow and pure shared types',
            },
          ],
        },
      ],
    },
  },
);
