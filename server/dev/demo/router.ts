/**
 * The demo page for the web frontend's developers, served by the API at / in development only
 * (app.ts mounts it when NODE_ENV is development). Its script is bundled once, at start, with esbuild
 * (the bundler tsx already runs on); the page's routes are / and /bookings/:id, where Checkout sends
 * the traveller back.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import type { Deps } from '../../deps.js';
import { AppError } from '../../lib/errors.js';
import { authenticate } from '../../services/auth.js';
import { loadBookingFor } from '../../services/bookings.js';
import { deliveryMessageId } from '../../services/email/deliveries.js';
import { emlFileSuffix, mailDirOf, mailDomain } from '../../services/email/transport.js';

const HERE = import.meta.dirname;

async function bundle(): Promise<string> {
  // Loaded here, not at import: the API in production never loads the bundler.
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [path.join(HERE, 'app.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  return out.outputFiles[0]?.text ?? '';
}

export function demoRouter(deps: Pick<Deps, 'db' | 'config' | 'logger'>): Router {
  const script = bundle();
  script.catch((err: unknown) => deps.logger.error({ err }, 'demo page: bundling its script failed'));
  const html = readFile(path.join(HERE, 'index.html'), 'utf8');
  const mailDir = mailDirOf(deps.config);

  const r = Router();
  const page: RequestHandler = async (_req, res) => {
    res.type('html').set('Cache-Control', 'no-store').send(await html);
  };
  r.get('/', page);
  r.get('/bookings/:id', page);
  r.get('/demo.js', async (_req, res) => {
    res.type('text/javascript').set('Cache-Control', 'no-store').send(await script);
  });

  /** The booking's confirmation e-mail as the worker wrote it (.eml), for its owner only. */
  r.get('/demo/bookings/:id/email', async (req, res) => {
    const actor = authenticate(deps.config, req.headers.authorization);
    const id = Number(req.params.id);
    if (!Number.isSafeInteger(id) || id < 1) throw new AppError('NOT_FOUND', 'No such booking');
    await loadBookingFor(deps.db, actor, id);
    const suffix = emlFileSuffix(deliveryMessageId(id, 'booking_confirmation', mailDomain(deps.config.MAIL_FROM)));
    // Names start with the time written. The newest: booking ids start again in every database (a reset,
    // a restore), so an older file with this id can be another booking's; a resend after a crash is the same message.
    const files = (await readdir(mailDir).catch(() => [] as string[])).filter((f) => f.endsWith(`-${suffix}`)).sort();
    const newest = files.at(-1);
    if (!newest) throw new AppError('NOT_FOUND', 'No confirmation e-mail for this booking yet');
    res.type('message/rfc822').set('Cache-Control', 'no-store').send(await readFile(path.join(mailDir, newest)));
  });
  return r;
}
