import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  /** 127.0.0.1:PORT, forwarding to the target. */
  port: number;
  /** Drops every open connection and refuses new ones: the server behind it "restarts". */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  /** Connections accepted so far (a reconnect shows as a new one). */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a server (Redis), so a test can take the server away from one process and
 * give it back, as a restart would, without touching the real server other tests share.
 */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let down = false;
  let count = 0;
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    count++;
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    accepted: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
