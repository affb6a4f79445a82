import { existsSync } from 'node:fs';

// Operational scripts run from a developer's shell: read .env when there is one. Import this first,
// before anything that imports server/env.ts. Variables already set in the environment win.
if (existsSync('.env')) process.loadEnvFile('.env');
