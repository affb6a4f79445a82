import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { simpleParser } from 'mailparser';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { financialLedger, flights } from '../../server/db/schema/index.js';
import { localDate } from '../../server/lib/time.js';
import { placeholderStripeKey, planStart } from '../../server/scripts/start-plan.js';
import { bookingRow, ledgerFor } from '../support/booking-flow.js';
import { launchChromium } from '../support/browser.js';
import { createFlight, seatsAvailable } from '../support/flights.js';
import { createTestDatabase } from '../support/harness.js';
import { dropRedisPrefix } from '../support/redis.js';
import { sharedProcessEnv, spawnEntrypoint, type SpawnedProcess } from '../support/spawn.js';
import { ROOT_DIR } from '../support/test-env.js';
import { TEST_PASSWORD, uniqueEmail } from '../support/users.js';

/**
 * The journey in a real browser (Chromium from an npm package: tests/support/browser.ts), against the
 * processes `npm start` runs with the placeholder Stripe key: the API (serving the demo page, as in
 * development), the worker and the Stripe emulator, each a process of its own, wired by the same
 * planStart(). The browser clicks what a traveller clicks; the database says what really happened.
 */

const OUTPUT_DIR = path.join(ROOT_DIR, '.data', 'test-output', 'browser-journey');
/** What each entrypoint logs once it is ready. */
const READY: Record<string, string> = {
  'server/index.ts': 'API listening',
  'server/worker.ts': 'worker started',
  'server/dev/stripe-emulator/main.ts': 'Stripe emulator listening',
};
const SEATS = 20;

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let redisPrefix: string;
const processes: SpawnedProcess[] = [];
let browser: Browser | undefined;
let launching: Promise<unknown> | undefined;
let baseUrl: string;
let mailDir: string | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

beforeAll(async () => {
  // Inflating and starting Chromium overlaps the processes' start. Kept as soon as it is up, so afterAll
  // closes it even when a later step of this hook fails; its failure is reported where it is awaited.
  const launched = launchChromium().then((l) => ((browser = l.browser), l));
  launching = launched.catch(() => undefined);
  testDb = await createTestDatabase();
  redisPrefix = `e2e:browser:${testDb.name}:`;
  const [apiPort, emulatorPort] = await Promise.all([freePort(), freePort()]);
  baseUrl = `http://127.0.0.1:${apiPort}`;
  mailDir = await mkdtemp(path.join(tmpdir(), 'browser-journey-mail-')); // not the developer's .data/mail
  const stripeKey = placeholderStripeKey();
  const plan = planStart({ STRIPE_SECRET_KEY: stripeKey, STRIPE_API_BASE: `http://127.0.0.1:${emulatorPort}` });
  if (!plan.emulatorBase) throw new Error('npm start would not run the Stripe emulator for its own placeholder key');
  const env = {
    ...sharedProcessEnv({ databaseUrl: testDb.url, redisKeyPrefix: redisPrefix, stripeApiBase: plan.emulatorBase }),
    ...plan.env,
    NODE_ENV: 'development', // the demo page is served in development only
    PORT: String(apiPort),
    APP_BASE_URL: baseUrl, // where Checkout sends the browser back
    STRIPE_SECRET_KEY: stripeKey,
    MAIL_DIR: mailDir,
  };
  for (const script of plan.scripts) processes.push(spawnEntrypoint(script, env));
  await Promise.all(
    plan.scripts.map((script, i) => {
      const ready = READY[script];
      if (!ready) throw new Error(`npm start runs ${script}: tell this test what it logs when ready`);
      return processes[i]!.waitForLog((l) => String(l.msg).startsWith(ready), 90_000); // three tsx starts on a busy 2-core machine
    }),
  );
  const { source } = await launched;
  // Not Debian's /usr/bin/chromium by accident: the bundled one, unless CHROMIUM_PATH says otherwise.
  if (!process.env.CHROMIUM_PATH) expect(source).toMatch(/^@sparticuz\/chromium/);
  await mkdir(OUTPUT_DIR, { recursive: true });
});

afterAll(async () => {
  await launching;
  await browser?.close();
  await Promise.all(processes.map((p) => p.stop()));
  if (redisPrefix) await dropRedisPrefix(redisPrefix); // unset if the database never came: never drop every key
  await testDb?.drop();
  if (mailDir) await rm(mailDir, { recursive: true, force: true });
});

/** A fresh browser context (its own sessionStorage) whose last page is saved as `<name>.png`, and `<name>-failed.png` on failure. */
async function openPage(name: string): Promise<Page> {
  const context = await browser!.newContext({ baseURL: baseUrl });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  onTestFailed(async () => {
    await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}-failed.png`), fullPage: true });
    await context.close();
  });
  return page;
}

async function finish(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}.png`), fullPage: true });
  await page.context().close();
}

/** A flight of its own for each test, so seat counts are the test's alone. */
async function newFlight() {
  const id = await createFlight(testDb.database.db, { seats: SEATS, priceMinor: 45_000, departureInHours: 72 });
  const [flight] = await testDb.database.db.select().from(flights).where(eq(flights.id, id));
  return flight!;
}

/** Signs up, searches the flight's day, books it for `travellers`, and opens Stripe Checkout from the booking page. */
async function bookAndOpenCheckout(page: Page, flight: Awaited<ReturnType<typeof newFlight>>, travellers: number): Promise<{ bookingId: number; email: string }> {
  const email = uniqueEmail('browser');
  await page.goto('/');
  await page.getByLabel('Name (to sign up)').fill('Layla Hassan');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(TEST_PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();

  await page.getByLabel('From').fill(flight.origin);
  await page.getByLabel('To', { exact: true }).fill(flight.destination);
  await page.getByLabel('Date').fill(localDate(flight.departureAt, 'Asia/Riyadh')); // RUH's local day
  await page.getByLabel('Travellers').fill(String(travellers));
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: `Book ${flight.flightNumber}` }).click();

  for (let i = 1; i <= travellers; i++) {
    await page.getByLabel(`Traveller ${i} first name`).fill('Layla');
    await page.getByLabel(`Traveller ${i} last name`).fill(`Hassan ${'ABCDEFGHI'[i - 1]}`);
  }
  await page.getByRole('button', { name: 'Book and pay' }).click();
  await page.waitForURL(/\/bookings\/\d+$/);
  const bookingId = Number(/\/bookings\/(\d+)$/.exec(page.url())![1]);
  await page.getByRole('button', { name: 'Pay with Stripe Checkout' }).click();

  // The emulator's hosted Checkout page: the booking's line items and total.
  await page.waitForURL(/\/c\/pay\/cs_/);
  const total = (travellers * flight.priceMinor) / 100;
  await page.getByRole('heading', { name: `Pay SAR ${total.toFixed(2)}` }).waitFor();
  return { bookingId, email };
}

describe('the journey in a real browser, as npm start runs it offline', () => {
  it('a traveller signs up, searches, books, presses Pay on Checkout, sees the booking confirmed and gets its e-mail: one charge in the ledger, seats taken', async () => {
    const page = await openPage('pay');
    const flight = await newFlight();
    const { bookingId, email } = await bookAndOpenCheckout(page, flight, 2);

    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await page.waitForURL(new RegExp(`/bookings/${bookingId}\\?checkout=success`));
    // The redirect proves nothing: the page polls until Stripe's webhooks have confirmed the booking.
    await page.getByTestId('booking-status').filter({ hasText: /^confirmed$/ }).waitFor({ timeout: 30_000 });
    // The worker sends the confirmation (an .eml in MAIL_DIR in development); the page links it once written.
    const link = page.getByRole('link', { name: 'Confirmation e-mail (.eml)' });
    await link.waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const mail = await simpleParser(await readFile(await download.path()));
    expect(mail.messageId).toMatch(new RegExp(`^<booking-${bookingId}-confirmation@`));
    expect(mail.to).toMatchObject({ value: [{ address: email }] });
    await finish(page, 'pay');

    const booking = await bookingRow({ db: testDb.database.db }, bookingId);
    expect(booking).toMatchObject({ status: 'confirmed', paymentStatus: 'paid', totalMinor: 2 * 45_000 });
    const charges = await testDb.database.db.select().from(financialLedger).where(eq(financialLedger.stripePaymentIntentId, booking.stripePaymentIntentId!));
    expect(charges).toMatchObject([{ entryType: 'charge', bookingId, amountMinor: 2 * 45_000, currency: 'SAR' }]);
    expect(await seatsAvailable(testDb.database.db, flight.id)).toBe(SEATS - 2);
  });

  it('a traveller who presses Cancel on Checkout is back on the booking, still pending_payment, its seats held and no money booked', async () => {
    const page = await openPage('cancel');
    const flight = await newFlight();
    const { bookingId } = await bookAndOpenCheckout(page, flight, 1);

    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL(new RegExp(`/bookings/${bookingId}\\?checkout=cancelled`));
    await page.getByRole('status').filter({ hasText: 'Payment cancelled' }).waitFor();
    await page.getByTestId('booking-status').filter({ hasText: /^pending_payment$/ }).waitFor();
    await finish(page, 'cancel');

    expect(await bookingRow({ db: testDb.database.db }, bookingId)).toMatchObject({ status: 'pending_payment', paymentStatus: 'unpaid' });
    expect(await seatsAvailable(testDb.database.db, flight.id)).toBe(SEATS - 1);
    expect(await ledgerFor({ db: testDb.database.db }, bookingId)).toEqual([]);
  });
});
