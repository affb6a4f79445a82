import { testEnv } from './test-env.js';

// vitest setupFiles: runs in every test worker before the test file imports server code.
for (const [k, v] of Object.entries(testEnv())) process.env[k] = v;
