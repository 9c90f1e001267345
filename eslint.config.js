// Lint: typescript-eslint's recommended rules plus Nimbus's layer rules.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'
import serviceWalls from './eslint/service-walls.js'
import { SERVICE_WALL_ALLOW } from './eslint/service-walls-allow.js'

/** Imports a layer may not make, as in Nova: virt code never reaches the database, drivers never reach each other. */
const layerRules = [
  {
    files: ['src/compute/virt/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/db/**', '**/db/*'], message: 'virt drivers may not use the database' }],
        },
      ],
    },
  },
  {
    files: ['src/compute/virt/fake/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/libvirt/**', '**/db/**'], message: 'one driver may not import another' }],
        },
      ],
    },
  },
  {
    files: ['src/compute/virt/libvirt/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/fake/**', '**/db/**'], message: 'one driver may not import another' }] },
      ],
    },
  },
  {
    files: ['src/compute/manager.ts', 'src/compute/resource-tracker.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/db/**'], message: 'compute hosts reach the database only through the conductor' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/common/**/*.ts', 'src/rpc/**/*.ts', 'src/db/**/*.ts', 'src/objects/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/identity/**',
                '**/compute/**',
                '**/image/**',
                '**/network/**',
                '**/conductor/**',
                '**/scheduler/**',
                '**/metadata/**',
                '**/cmd/**',
              ],
              message: 'the foundation may not depend on services',
            },
          ],
        },
      ],
    },
  },
]

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'web/dist/**', '.scratch/**'] },
  { languageOptions: { globals: { ...globals.node } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...layerRules,
  // The service walls (docs/architecture.md): a custom rule, so it composes with the layer rules above.
  {
    files: ['src/**/*.ts'],
    plugins: { nimbus: serviceWalls },
    rules: { 'nimbus/service-walls': ['error', { allow: SERVICE_WALL_ALLOW }] },
  },
)
