import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import type { Logger } from 'pino';
import type { Env } from '../../env.js';

/** A message ready to hand over: rendered, addressed, with the Message-ID its delivery record fixed. */
export interface OutgoingMail {
  to: { name: string; address: string };
  subject: string;
  text: string;
  html: string;
  /** `<local@domain>`, angle brackets included. */
  messageId: string;
}

export interface MailReceipt {
  messageId: string;
  /** The SMTP server's final reply (`250 ...`), or where the .eml file was written. */
  response: string;
  /** Set when the message went to a file instead of SMTP (development without SMTP_URL). */
  file?: string;
}

export interface Mailer {
  /** `smtp` sends to SMTP_URL; `file` writes .eml files (development and tests without SMTP_URL). */
  readonly kind: 'smtp' | 'file';
  /** The signal aborts a send that takes too long (the caller's claim on the message has a lease). */
  send(mail: OutgoingMail, opts?: { signal?: AbortSignal }): Promise<MailReceipt>;
  close(): void;
}

export type MailConfig = Pick<Env, 'NODE_ENV' | 'SMTP_URL' | 'MAIL_FROM' | 'MAIL_DIR'>;

/** Development .eml files land in MAIL_DIR, by default .data/mail/ (git-ignored with the rest of .data/). */
export const mailDirOf = (config: Pick<Env, 'MAIL_DIR'>): string =>
  config.MAIL_DIR ? path.resolve(config.MAIL_DIR) : path.resolve(import.meta.dirname, '../../../.data/mail');

/** The address part of MAIL_FROM (`Flights <no-reply@flights.example>` -> `no-reply@flights.example`). */
export function mailFromAddress(mailFrom: string): string {
  const address = addressparser(mailFrom, { flatten: true })[0]?.address ?? '';
  if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new Error(`MAIL_FROM must contain an e-mail address, e.g. "Flights <no-reply@example.com>"; got "${mailFrom}"`);
  return address;
}

/** The domain our Message-IDs live under: MAIL_FROM's. */
export function mailDomain(mailFrom: string): string {
  return mailFromAddress(mailFrom).split('@')[1]!.toLowerCase();
}

/**
 * The one place that decides how mail leaves: SMTP when SMTP_URL is set, otherwise (never in
 * production, which env.ts refuses to start without SMTP_URL) RFC 5322 .eml files a developer can open.
 * Build one per process and close it at shutdown.
 */
export function createMailer(config: MailConfig, logger: Logger): Mailer {
  mailFromAddress(config.MAIL_FROM); // fail at start, not at the first booking
  if (config.SMTP_URL) return smtpMailer(config.SMTP_URL, config.MAIL_FROM);
  if (config.NODE_ENV === 'production') throw new Error('SMTP_URL is required in production');
  return fileMailer(config.MAIL_FROM, mailDirOf(config), logger);
}

function smtpMailer(smtpUrl: string, from: string): Mailer {
  if (!/^smtps?:\/\//i.test(smtpUrl)) throw new Error('SMTP_URL must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@smtp.example.com:587');
  // One connection per message, no pool: a pooled transport re-sends a message on its own when its
  // connection drops mid-send, which would happen outside the delivery record's claim. Confirmations
  // are one per paid booking; a connection each costs nothing that matters.
  const transport = nodemailer.createTransport({
    url: smtpUrl,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    kind: 'smtp',
    async send(mail, sendOpts = {}) {
      const info = await transport.sendMail({ ...message(from, mail), signal: sendOpts.signal });
      return { messageId: info.messageId, response: info.response };
    },
    close: () => transport.close(),
  };
}

function fileMailer(from: string, dir: string, logger: Logger): Mailer {
  // nodemailer's stream transport builds the exact message SMTP would carry (headers, MIME parts,
  // encodings); we only write its bytes. CRLF line ends, as RFC 5322 asks.
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    kind: 'file',
    async send(mail, sendOpts = {}) {
      const info = await transport.sendMail({ ...message(from, mail), signal: sendOpts.signal });
      await mkdir(dir, { recursive: true });
      // The time first, so a resend after a crash (same Message-ID) does not overwrite the first file.
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const file = path.join(dir, `${stamp}-${emlFileSuffix(mail.messageId)}`);
      await writeFile(file, info.message as Buffer);
      logger.info({ file, messageId: info.messageId }, 'E-mail written to a file (SMTP_URL is not set)');
      return { messageId: info.messageId, response: `written to ${file}`, file };
    },
    close: () => transport.close(),
  };
}

/** How a development .eml file's name ends for a Message-ID (the name starts with the time written). */
export function emlFileSuffix(messageId: string): string {
  return `${messageId.replace(/[^A-Za-z0-9@._-]/g, '')}.eml`;
}

function message(from: string, mail: OutgoingMail) {
  return {
    from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: mail.messageId,
    // RFC 3834: an automatic message; out-of-office robots must not answer it.
    headers: { 'Auto-Submitted': 'auto-generated' },
  };
}

/**
 * The server refused THIS message for good (a 5xx to the recipient or the content): retrying cannot
 * help. Everything else (connection, timeout, 4xx, authentication, which a configuration fix cures)
 * is worth another attempt.
 */
export function isPermanentMailError(err: unknown): boolean {
  const e = err as { code?: unknown; responseCode?: unknown };
  const code = typeof e?.responseCode === 'number' ? e.responseCode : 0;
  return code >= 500 && code < 600 && (e.code === 'EENVELOPE' || e.code === 'EMESSAGE');
}
