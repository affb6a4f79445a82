/**
 * `npm start`: the whole system on one machine. On first run writes .env from .env.example with
 * freshly generated development secrets; makes sure MySQL/MariaDB and Redis answer; migrates; seeds;
 * then runs the API and the worker as two processes and stops both on Ctrl-C. While .env holds the
 * generated placeholder Stripe key, a third process runs the Stripe emulator and the API and the worker
 * talk to it (STRIPE_API_BASE), so Checkout works offline; a real sk_test_ key switches it off. Unless
 * APP_BASE_URL is set, Checkout comes back to the demo page on PORT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ensureServices } from './services.js';
import { placeholderStripeKey, planStart } from './start-plan.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ENV_FILE = path.join(ROOT, '.env');
const say = (msg: string) => process.stdout.write(`[start] ${msg}\n`);
const secret = () => randomBytes(36).toString('base64url');

/** Sets one variable in .env text, keeping every other line (and comment) as it was. */
function setVar(text: string, name: string, value: string): string {
  const re = new RegExp(`^${name}=.*$`, 'm');
  return re.test(text) ? text.replace(re, `${name}=${value}`) : `${text.trimEnd()}\n${name}=${value}\n`;
}

let envText = existsSync(ENV_FILE) ? readFileSync(ENV_FILE, 'utf8') : readFileSync(path.join(ROOT, '.env.example'), 'utf8');
const generated: string[] = [];
for (const [name, make] of [
  ['JWT_SECRET', secret],
  ['REFRESH_TOKEN_PEPPER', secret],
  ['STRIPE_WEBHOOK_SECRET', () => `whsec_${randomBytes(24).toString('base64')}`],
  ['STRIPE_SECRET_KEY', placeholderStripeKey],
] as const) {
  if (!parseEnv(envText)[name]) {
    envText = setVar(envText, name, make());
    generated.push(name);
  }
}

// Services may have been started privately on other ports: record where they are.
const { databaseUrl, redisUrl } = await ensureServices(parseEnv(envText));
envText = setVar(setVar(envText, 'DATABASE_URL', databaseUrl), 'REDIS_URL', redisUrl);
writeFileSync(ENV_FILE, envText, { mode: 0o600 });
if (generated.length) say(`wrote .env with freshly generated development values for ${generated.join(', ')}`);

// `node --import tsx`, not the tsx wrapper: the wrapper SIGKILLs a child that is slow to acknowledge a
// signal, which would turn Ctrl-C into a kill instead of a graceful shutdown. Each child reads the .env
// just written (--env-file); variables set in the environment still win.
const nodeTsx = (script: string) => [process.execPath, ['--env-file', ENV_FILE, '--import', 'tsx', script]] as const;
function run(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(...nodeTsx(script), { cwd: ROOT, stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited with ${code}`))));
  });
}
say('migrating');
await run('server/scripts/migrate.ts');
say('seeding');
await run('server/scripts/seed.ts');

const { emulatorBase, scripts, env: planned } = planStart(parseEnv(envText), process.env);
const childEnv = { ...process.env, ...planned };
if (emulatorBase) {
  say(
    `no real Stripe key in .env: Stripe emulator at ${emulatorBase} (Checkout pages, dashboard at ${emulatorBase}/dashboard), ` +
      `signed webhooks to /webhooks/stripe; put your sk_test_ key in .env to use Stripe instead`,
  );
}
const children: ChildProcess[] = scripts.map((script) => spawn(...nodeTsx(script), { cwd: ROOT, stdio: 'inherit', env: childEnv }));
let stopping = false;
function stopAll(signal: NodeJS.Signals) {
  if (stopping) return;
  stopping = true;
  say(emulatorBase ? 'stopping the API, the worker and the Stripe emulator' : 'stopping the API and the worker');
  for (const c of children) if (c.exitCode === null) c.kill(signal);
}
process.on('SIGINT', () => stopAll('SIGTERM'));
process.on('SIGTERM', () => stopAll('SIGTERM'));
let exited = 0;
for (const c of children) {
  c.on('exit', (code) => {
    exited++;
    if (!stopping) {
      say(`a process exited with ${code}; stopping the others`);
      process.exitCode = code ?? 1;
      stopAll('SIGTERM');
    }
    if (exited === children.length) process.exit();
  });
}
