import { z } from 'zod';

/**
 * All configuration, and the only file that reads process.env. The composition roots (server/index.ts,
 * server/worker.ts, the scripts) and lib/logger.ts, lib/sentry.ts read `env`; services never do: they
 * get it as `deps.config`. A missing or weak secret stops the process with a message naming the
 * variable (exit 78): there are no fallback secrets.
 */

// Values that show up in tutorials and .env samples; a secret containing one was never generated.
const PLACEHOLDER_FRAGMENTS = [
  'your-secret',
  'your_secret',
  'yoursecret',
  'secret-key',
  'secretkey',
  'changeme',
  'change-me',
  'change_me',
  'replace-me',
  'replaceme',
  'placeholder',
  'example',
  'default',
  'password',
  'supersecret',
  'xxxxxxxx',
];

function strongSecret(name: string) {
  return z
    .string({ error: `${name} is required` })
    .min(32, `${name} must be at least 32 characters (generate one with: openssl rand -base64 48)`)
    .refine(
      (v) => !PLACEHOLDER_FRAGMENTS.some((p) => v.toLowerCase().includes(p)),
      `${name} looks like a placeholder value; generate a random one (openssl rand -base64 48)`,
    )
    .refine((v) => new Set(v).size >= 12, `${name} is too repetitive to be a random secret`);
}

/** "<points>/<window>", e.g. "10/15m": at most 10 attempts per 15 minutes. Units s, m, h. */
function rateLimitRule(name: string, fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const m = /^(\d+)\/(\d+)([smh])$/.exec(v.trim());
      const points = m ? Number(m[1]) : 0;
      const durationSeconds = m ? Number(m[2]) * { s: 1, m: 60, h: 3600 }[m[3] as 's' | 'm' | 'h'] : 0;
      if (points < 1 || durationSeconds < 1) {
        ctx.addIssue({ code: 'custom', message: `${name} must look like <points>/<window>, e.g. ${fallback}` });
        return z.NEVER;
      }
      return { points, durationSeconds };
    });
}

const required = (name: string) => z.string({ error: `${name} is required` }).min(1, `${name} is required`);

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: required('DATABASE_URL').refine(
    (v) => /^mysql:\/\//.test(v),
    'DATABASE_URL must be a mysql:// URL, e.g. mysql://root@127.0.0.1:3306/flight_booking',
  ),
  /**
   * A user with DDL and TRIGGER privileges for `db:migrate`, `db:backup` and `db:restore`; the app's own
   * DATABASE_URL user should have neither, so it cannot drop its append-only triggers. Defaults to DATABASE_URL.
   */
  MIGRATION_DATABASE_URL: z
    .string()
    .refine((v) => /^mysql:\/\//.test(v), 'MIGRATION_DATABASE_URL must be a mysql:// URL, e.g. mysql://migrator:pass@127.0.0.1:3306/flight_booking')
    .optional(),
  REDIS_URL: required('REDIS_URL').refine(
    (v) => /^rediss?:\/\//.test(v),
    'REDIS_URL must be a redis:// URL, e.g. redis://127.0.0.1:6379',
  ),
  /** Prefix for every Redis key the app writes (rate limits, caches), for a Redis shared with others. */
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]*$/, 'REDIS_KEY_PREFIX may contain only letters, digits, : _ -').default(''),
  JWT_SECRET: strongSecret('JWT_SECRET'),
  REFRESH_TOKEN_PEPPER: strongSecret('REFRESH_TOKEN_PEPPER'),
  STRIPE_SECRET_KEY: required('STRIPE_SECRET_KEY').refine(
    (v) => /^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$/.test(v),
    'STRIPE_SECRET_KEY must look like sk_test_... or sk_live_...',
  ),
  STRIPE_WEBHOOK_SECRET: required('STRIPE_WEBHOOK_SECRET').refine(
    (v) => /^whsec_[A-Za-z0-9+/=]{16,}$/.test(v),
    'STRIPE_WEBHOOK_SECRET must look like whsec_... (from the Stripe dashboard or `stripe listen`)',
  ),
  /** Points the Stripe SDK at a Stripe-compatible server (tests, stripe-mock). Unset in production. */
  STRIPE_API_BASE: z.url().optional(),
  SENTRY_DSN: z.url().optional(),
  /** The release Sentry events name (e.g. a git sha or version tag); default flight-booking-backend@<package.json version>. */
  SENTRY_RELEASE: z.string().max(200).optional(),
  /** Lets a non-loopback caller read GET /metrics (and the worker's) with `Authorization: Bearer <token>`. Unset: loopback only. */
  METRICS_TOKEN: strongSecret('METRICS_TOKEN').optional(),
  /** The worker's Prometheus endpoint, on 127.0.0.1; 0 turns it off. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9465),
  /** /health/ready fails its queue check when the oldest pending outbox row is older than this. */
  HEALTH_OUTBOX_MAX_AGE_SECONDS: z.coerce.number().int().min(30).default(900),
  /** Confirmation e-mails go here; unset outside production they are written as .eml files under .data/mail/. */
  SMTP_URL: z.string().optional(),
  MAIL_FROM: z.string().default('Flights <no-reply@flights.local>'),
  /** Where .eml files go while SMTP_URL is unset (never in production); default .data/mail/ in the repository. */
  MAIL_DIR: z.string().optional(),
  /**
   * A confirmation's hand-over to SMTP is aborted after this long; its delivery claim is held twice as
   * long, after which a sender presumed dead is replaced (the resend keeps the same Message-ID).
   */
  SMTP_SEND_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(60),
  /**
   * A running job's BullMQ lock, renewed every half of it: a worker that dies mid-job (kill -9, a lost
   * host) has its jobs taken over by another worker within about twice this.
   */
  JOB_LOCK_SECONDS: z.coerce.number().int().min(1).max(600).default(30),
  APP_BASE_URL: z.url().default('http://localhost:3000'),
  /** Seat hold for an unpaid booking, in minutes. Stripe Checkout sessions live at least 30 minutes. */
  BOOKING_HOLD_MINUTES: z.coerce.number().int().min(30).max(24 * 60).default(30),
  /**
   * A delayed payment (bank debit) still `processing` after this many days is looked up at Stripe by the
   * reconciliation: settled if Stripe has the outcome, else its booking is flagged. Three weeks always
   * hold 15 business days, one more than SEPA Direct Debit's documented maximum of 14, the slowest
   * delayed method Checkout can offer (the code pins no payment methods: the Dashboard chooses).
   */
  PAYMENT_PROCESSING_ALERT_DAYS: z.coerce.number().int().min(1).max(365).default(21),
  /** A traveller may ask for a refund until this many minutes before departure; later only an admin may. */
  REFUND_CUTOFF_MINUTES: z.coerce.number().int().min(0).max(7 * 24 * 60).default(120),
  /** Sales close this many minutes before departure: no new booking, no payment page, no page open past it. */
  SALES_CUTOFF_MINUTES: z.coerce.number().int().min(0).max(7 * 24 * 60).default(60),
  /** Unpaid (pending_payment) bookings one account may hold at once. */
  MAX_UNPAID_BOOKINGS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(3),
  /** Seats one account may hold unpaid at once, over all its pending bookings. */
  MAX_UNPAID_SEATS_PER_USER: z.coerce.number().int().min(1).max(100_000).default(9),
  /** Calls one tRPC batch request may carry; a larger batch is refused as a whole. */
  TRPC_MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  /** Two refreshes of the same token within this many seconds are a retry, not a theft. */
  REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(60).default(5),
  /** Auth rate limits (Redis-backed, shared by every API process). Login and refresh count failures only. */
  RATE_LIMIT_LOGIN_PER_ACCOUNT: rateLimitRule('RATE_LIMIT_LOGIN_PER_ACCOUNT', '10/15m'),
  RATE_LIMIT_LOGIN_PER_IP: rateLimitRule('RATE_LIMIT_LOGIN_PER_IP', '50/15m'),
  RATE_LIMIT_REFRESH_PER_TOKEN: rateLimitRule('RATE_LIMIT_REFRESH_PER_TOKEN', '10/15m'),
  RATE_LIMIT_REFRESH_PER_IP: rateLimitRule('RATE_LIMIT_REFRESH_PER_IP', '50/15m'),
  RATE_LIMIT_REFRESH_PER_ACCOUNT: rateLimitRule('RATE_LIMIT_REFRESH_PER_ACCOUNT', '30/15m'),
  RATE_LIMIT_REGISTER_PER_IP: rateLimitRule('RATE_LIMIT_REGISTER_PER_IP', '20/1h'),
  /** API processes on PORT (node:cluster): 1 runs the API in the started process; use one per core in production. */
  API_WORKERS: z.coerce.number().int().min(1).max(64).default(1),
  /** Life of a cached flights.search answer in Redis, in seconds; 0 turns the search cache off. */
  SEARCH_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(3600).default(120),
  /** Cache-Control max-age of flights.search over GET, for browsers and CDNs (seat counts move: keep it short). */
  SEARCH_HTTP_MAX_AGE_SECONDS: z.coerce.number().int().min(0).max(3600).default(15),
  /** Cache-Control stale-while-revalidate of flights.search: a CDN may serve the old answer this long while it refetches. */
  SEARCH_HTTP_STALE_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  /** Body size limit for JSON and webhook bodies. */
  BODY_LIMIT: z.string().default('100kb'),
  /** Trust X-Forwarded-For from this many proxies (rate limiting uses the client IP). */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
});

export type Env = z.infer<typeof EnvSchema>;

export function parseEnv(source: Record<string, string | undefined>): Env {
  // `NAME=` in a .env file means "not set", not "set to nothing".
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const result = EnvSchema.safeParse(present);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`Invalid configuration, refusing to start:\n${lines.join('\n')}`);
  }
  if (result.data.JWT_SECRET === result.data.REFRESH_TOKEN_PEPPER) {
    // One leaked value would then both forge access tokens and turn stolen token hashes into lookups.
    throw new Error('Invalid configuration, refusing to start:\n  - REFRESH_TOKEN_PEPPER: must differ from JWT_SECRET (generate each with: openssl rand -base64 48)');
  }
  const dbName = (url: string) => new URL(url).pathname;
  if (result.data.MIGRATION_DATABASE_URL && dbName(result.data.MIGRATION_DATABASE_URL) !== dbName(result.data.DATABASE_URL)) {
    // Migrations would go to one database while the app reads another.
    throw new Error('Invalid configuration, refusing to start:\n  - MIGRATION_DATABASE_URL: must name the same database as DATABASE_URL');
  }
  if (result.data.NODE_ENV === 'production' && result.data.STRIPE_API_BASE) {
    throw new Error('Invalid configuration, refusing to start:\n  - STRIPE_API_BASE: must not be set in production');
  }
  if (result.data.NODE_ENV === 'production' && !result.data.SMTP_URL) {
    // Without it, confirmation e-mails would go to .eml files on the server's disk and no traveller would get one.
    throw new Error('Invalid configuration, refusing to start:\n  - SMTP_URL: SMTP_URL is required in production (e.g. smtp://user:pass@smtp.example.com:587)');
  }
  return result.data;
}

let loaded: Env | undefined;

/** process.env, validated once; an invalid configuration ends the process here. */
export function loadEnv(): Env {
  if (loaded) return loaded;
  try {
    return (loaded = parseEnv(process.env));
  } catch (err) {
    // The logger depends on env, so this one message goes straight to stderr.
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(78); // EX_CONFIG
  }
}

/**
 * The configuration, validated on first read (lib/logger.ts reads it as it loads, so an entrypoint
 * still stops before doing anything). Not at import: the service bootstrap below imports this file
 * on a fresh clone, before any secret exists.
 */
export const env: Env = Object.defineProperties(
  {},
  Object.fromEntries(Object.keys(EnvSchema.shape).map((key) => [key, { enumerable: true, get: () => loadEnv()[key as keyof Env] }])),
) as Env;

/**
 * What server/scripts/services.ts and start.ts need before a configuration exists (a fresh clone has no
 * .env and no secrets yet): the servers the developer points at, if any, unvalidated.
 */
export function bootstrapEnv() {
  const { DATABASE_URL, REDIS_URL, MYSQL_ROOT_PASSWORD, PATH } = process.env;
  return { DATABASE_URL: DATABASE_URL || undefined, REDIS_URL: REDIS_URL || undefined, MYSQL_ROOT_PASSWORD: MYSQL_ROOT_PASSWORD || undefined, PATH: PATH ?? '' };
}

/** db:migrate, db:backup and db:restore connect as this user; the API and the worker as DATABASE_URL's. */
export function migrationDatabaseUrl(): string {
  return env.MIGRATION_DATABASE_URL ?? env.DATABASE_URL;
}
