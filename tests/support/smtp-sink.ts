import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface ReceivedMail {
  /** RCPT TO addresses of the SMTP envelope. */
  envelopeTo: string[];
  envelopeFrom: string;
  /** The bytes as they arrived. */
  raw: Buffer;
  /** The same, parsed by mailparser: headers, text and html parts. */
  parsed: ParsedMail;
}

export interface SmtpSink {
  /** smtp://127.0.0.1:PORT */
  url: string;
  received: ReceivedMail[];
  /** The next `count` messages are answered with `code message` after DATA (e.g. 451 or 554). */
  refuseNext(count: number, code: number, message?: string): void;
  /**
   * The next message's DATA is never answered: its sender hangs mid-send, and the message is lost with
   * its connection (nothing is recorded). Resolves once that message has arrived and is being held.
   */
  holdNext(): Promise<void>;
  /** Every RCPT TO of this address is refused with 550 (the mailbox does not exist). */
  rejectRecipient(address: string): void;
  close(): Promise<void>;
}

/**
 * A real SMTP server on a free loopback port (the `smtp-server` package), recording what it accepts.
 * Plain SMTP, no TLS, no authentication required: what nodemailer meets when SMTP_URL names it.
 */
export async function startSmtpSink(): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const refusals: { code: number; message: string }[] = [];
  const rejected = new Set<string>();
  let holding: (() => void) | null = null;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      if (!rejected.has(address.address.toLowerCase())) return callback();
      callback(Object.assign(new Error('5.1.1 No such mailbox'), { responseCode: 550 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (holding) {
          const held = holding;
          holding = null;
          held(); // never calls back: no 250, nothing recorded
          return;
        }
        const refusal = refusals.shift();
        if (refusal) return callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            received.push({
              raw,
              parsed,
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            });
            callback(null, `Queued as sink-${received.length}`);
          },
          (err: Error) => callback(err),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    refuseNext(count, code, message = code >= 500 ? '5.6.0 Message refused' : '4.3.0 Try again later') {
      for (let i = 0; i < count; i++) refusals.push({ code, message });
    },
    holdNext() {
      return new Promise<void>((resolve) => {
        holding = resolve;
      });
    },
    rejectRecipient(address) {
      rejected.add(address.toLowerCase());
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
