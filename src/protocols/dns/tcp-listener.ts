/**
 * The forwarder's TCP side (RFC 7766): a node:net server on port 53 in the appliance's own
 * namespace. TCP to the router's addresses is not handled by the userspace stack; it reaches
 * the kernel through the host port (t6host, src/app/host-port.ts), which owns the router's
 * addresses as /128s, so an ordinary socket bound to [::]:53 receives it.
 *
 * - Several queries per connection, each answered as soon as it is ready (RFC 7766 §6.2.1.1
 *   allows replies out of order); at most MAX_PENDING in progress per connection.
 * - A connection idle for IDLE_MS is closed (§6.2.3 recommends a timeout of seconds).
 * - A query whose handler gives no reply (dropped) closes the connection.
 * - At most MAX_CONNECTIONS at once; one more is closed at once (`refusedConnections`), so
 *   a flood of connections cannot use up the process's file descriptors.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { parseIpv6 } from '../../lib/addr.js';
import { frameTcp, TcpDeframer } from './transport.js';

export const IDLE_MS = 10_000;
export const MAX_PENDING = 16;
export const MAX_CONNECTIONS = 256;

export type TcpHandler = (query: Uint8Array, client: Uint8Array) => Promise<Uint8Array | null>;

export class TcpListener {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  connections = 0;
  refusedConnections = 0;

  constructor(
    private readonly handle: TcpHandler,
    private readonly maxConnections = MAX_CONNECTIONS,
  ) {}

  get listening(): boolean {
    return this.server !== null;
  }

  /** The bound port (what port 0 became), or 0 when not listening. */
  get port(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** Listens on [::]:port (IPv6 only); rejects when the port cannot be bound. */
  async listen(port: number): Promise<void> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '::', port, ipv6Only: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.server = server;
  }

  close(): void {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    server?.close();
  }

  private accept(socket: Socket): void {
    if (this.sockets.size >= this.maxConnections) {
      this.refusedConnections++;
      return void socket.destroy();
    }
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    // A link-local peer's address carries its zone (%t6host); the allow list compares addresses.
    const client = parseIpv6((socket.remoteAddress ?? '').split('%')[0]!);
    if (client === null) return void socket.destroy();
    const deframer = new TcpDeframer();
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      for (let m = deframer.push(chunk); m !== null; m = deframer.next()) {
        if (++pending > MAX_PENDING) return void socket.destroy();
        void this.handle(m, client).then((reply) => {
          pending--;
          if (reply === null) socket.destroy();
          else if (!socket.destroyed) socket.write(frameTcp(reply));
        });
      }
    });
  }
}
