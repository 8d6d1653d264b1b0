/**
 * The resolver's real transport: host sockets in the appliance's own network namespace
 * (the management side, as the DHCPv6 client's and control socket's are), not the
 * userspace stack. Each UDP channel binds port 0, which Linux fills with a random
 * ephemeral port (RFC 5452 §9.2's source-port randomisation); the socket is not
 * connected, so the resolver sees, and refuses, datagrams from anyone else.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { frameTcp, TcpDeframer, type DnsServer, type DnsTransport, type TcpExchange, type UdpChannel } from './transport.js';

function host(s: DnsServer): string {
  return s.zone === undefined ? s.address : `${s.address}%${s.zone}`;
}

export class HostTransport implements DnsTransport {
  openUdp(): UdpChannel {
    const sock = createSocket({ type: 'udp6' });
    let listener: ((bytes: Uint8Array, from: { address: string; port: number }) => void) | null = null;
    let closed = false;
    // Sends and replies before bind completes are queued by node; errors (ICMP unreachable
    // on Linux surfaces only on connected sockets) must not crash the process.
    sock.on('error', () => undefined);
    sock.on('message', (msg, rinfo) => listener?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { address: rinfo.address, port: rinfo.port }));
    sock.bind(0);
    return {
      send: (server, bytes) => {
        if (!closed) sock.send(bytes, server.port, host(server), () => undefined);
      },
      onMessage: (fn) => {
        listener = fn;
      },
      close: () => {
        if (closed) return;
        closed = true;
        listener = null;
        sock.close();
      },
    };
  }

  tcp(server: DnsServer, query: Uint8Array): TcpExchange {
    const sock = connect({ host: host(server), port: server.port, family: 6 });
    const deframer = new TcpDeframer();
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      sock.on('connect', () => sock.write(frameTcp(query)));
      sock.on('data', (chunk) => {
        const m = deframer.push(chunk);
        if (m !== null) {
          resolve(m);
          sock.destroy();
        }
      });
      sock.on('error', (e) => reject(e));
      sock.on('close', () => reject(new Error('connection closed before a whole reply')));
    });
    return {
      reply,
      abort: () => sock.destroy(new Error('timed out')),
    };
  }
}
