import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.venv/', '.tools/', '.tmp/', 'dist/', 'db/migrations/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no clocks, no randomness.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'http', 'https', 'child_process', '@mikro-orm/*', 'pg', 'pino'],
              message: 'workflows must not do I/O',
            },
            {
              group: ['**/activities/*', '**/db/*', '**/providers/*', '**/images/*', '**/simulator/*'],
              allowTypeImports: true,
              message: 'workflows import only types from the I/O layers, and call activities through proxyActivities',
            },
          ],
        },
      ],
      // no-restricted-imports does not look at import(): the sandbox's bundle is made from static imports only.
      'no-restricted-syntax': ['error', { selector: 'ImportExpression', message: 'workflows import statically' }],
    },
  },
  {
    // The CLI acts only through Temporal: what it shows comes from workflows, typed by core/.
    files: ['cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // worker/worker.ts brings the activities with it.
              group: ['**/activities/*', '**/providers/*', '**/db/*', '**/worker/worker.ts'],
              message: 'the CLI reaches the worker through Temporal; shared data shapes live in core/',
            },
          ],
        },
      ],
      // The same for import(), which no-restricted-imports does not look at (most of the CLI loads lazily).
      'no-restricted-syntax': [
        'error',
        {
          selector: String.raw`ImportExpression[source.value=/(^|\/)(activities|providers|db)\/|\/worker\/worker\.ts$/]`,
          message: 'the CLI reaches the worker through Temporal; shared data shapes live in core/',
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { process: 'readonly' } },
  },
);
