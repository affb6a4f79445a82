import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface SentryEnvelope {
  /** The raw text as received, for "this string appears nowhere" checks. */
  raw: string;
  header: Record<string, unknown>;
  items: { header: { type?: string } & Record<string, unknown>; payload: unknown }[];
}

/** A loopback HTTP server playing Sentry's ingest endpoint: the real SDK sends its envelopes here. */
export interface SentrySink {
  /** A DSN pointing at this server, e.g. http://publickey@127.0.0.1:PORT/1. */
  dsn: string;
  envelopes: SentryEnvelope[];
  /** Error events (item type `event`) received so far. */
  events(): Record<string, any>[];
  waitForEvent(pred: (event: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  close(): Promise<void>;
}

function parseEnvelope(raw: string): SentryEnvelope {
  const lines = raw.split('\n');
  const header = JSON.parse(lines[0]!) as Record<string, unknown>;
  const items: SentryEnvelope['items'] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    if (!lines[i]) continue;
    const itemHeader = JSON.parse(lines[i]!) as SentryEnvelope['items'][number]['header'];
    let payload: unknown = lines[i + 1];
    try {
      payload = JSON.parse(lines[i + 1]!);
    } catch {
      // attachments and the like stay text
    }
    items.push({ header: itemHeader, payload });
  }
  return { raw, header, items };
}

export async function startSentrySink(): Promise<SentrySink> {
  const envelopes: SentryEnvelope[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (req.method === 'POST' && /\/api\/\d+\/envelope\/?/.test(req.url ?? '')) envelopes.push(parseEnvelope(body.toString('utf8')));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const events = () => envelopes.flatMap((e) => e.items.filter((i) => i.header.type === 'event').map((i) => i.payload as Record<string, any>));
  return {
    dsn: `http://0123456789abcdef0123456789abcdef@127.0.0.1:${port}/1`,
    envelopes,
    events,
    async waitForEvent(pred, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events().find(pred);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching Sentry event within ${timeoutMs} ms; got ${events().length} event(s)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
