/**
 * What the stub resolver sends DNS over, behind an interface so that its retry, timeout,
 * truncation and EDNS logic runs in unit tests against fake servers on the manual clock
 * (test/protocols/dns/fake-servers.ts); host-transport.ts is the real one, on node:dgram
 * and node:net in the appliance's own network namespace.
 */
import { formatIpv6, parseIpv6 } from '../../lib/addr.js';
import { DNS_PORT } from '../../wire/dns.js';

/** An upstream name server. Link-local servers carry their interface (RFC 4007 §11 zone). */
export interface DnsServer {
  /** Canonical IPv6 text, without zone. */
  readonly address: string;
  readonly port: number;
  /** Interface name for a link-local address, else undefined. */
  readonly zone?: string;
}

/** "2001:db8::53", "fe80::1%eth0", "[2001:db8::53]:5353" or "[fe80::1%eth0]:53"; a reason otherwise. */
export function parseDnsServer(text: string): DnsServer | string {
  let host = text;
  let port = DNS_PORT;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1]!;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  }
  if (!(port >= 1 && port <= 65535)) return `port ${port} outside 1–65535`;
  const [addrText, zone, extra] = host.split('%');
  if (extra !== undefined) return `more than one % in ${JSON.stringify(text)}`;
  const addr = parseIpv6(addrText!);
  if (addr === null) return `${JSON.stringify(text)} is not an IPv6 address, [address]:port, or either with %interface`;
  const linkLocal = addr[0] === 0xfe && (addr[1]! & 0xc0) === 0x80;
  if (linkLocal && (zone === undefined || zone === '')) return `link-local server ${addrText} needs its interface: ${addrText}%<interface>`;
  if (!linkLocal && zone !== undefined) return `only a link-local server takes %interface (${JSON.stringify(text)})`;
  return zone === undefined ? { address: formatIpv6(addr), port } : { address: formatIpv6(addr), port, zone };
}

export function formatDnsServer(s: DnsServer): string {
  const host = s.zone === undefined ? s.address : `${s.address}%${s.zone}`;
  return s.port === DNS_PORT ? host : `[${host}]:${s.port}`;
}

/** The source of a datagram, as the socket reports it. */
export interface Peer {
  readonly address: string;
  readonly port: number;
}

/** One UDP socket on a fresh random source port (RFC 5452 §9.2), for one query's exchanges. */
export interface UdpChannel {
  send(server: DnsServer, bytes: Uint8Array): void;
  /** Every datagram the socket receives, from anyone: the resolver decides what to accept. */
  onMessage(fn: (bytes: Uint8Array, from: Peer) => void): void;
  close(): void;
}

/** One TCP exchange (RFC 7766 §8: 2-byte length framing): resolves with one message, or rejects. */
export interface TcpExchange {
  readonly reply: Promise<Uint8Array>;
  /** Gives up (the resolver's timeout): closes the connection; `reply` rejects. */
  abort(): void;
}

export interface DnsTransport {
  openUdp(): UdpChannel;
  tcp(server: DnsServer, query: Uint8Array): TcpExchange;
}

/** Whether `from` is `server`: the same address (zones aside; the socket may not report them) and port. */
export function fromServer(from: Peer, server: DnsServer): boolean {
  if (from.port !== server.port) return false;
  const a = parseIpv6(from.address.split('%')[0]!);
  return a !== null && formatIpv6(a) === server.address;
}

/** RFC 1035 §4.2.2: a TCP message is preceded by its 16-bit length. */
export function frameTcp(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + message.length);
  out[0] = message.length >>> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}

/**
 * Accumulates TCP bytes and takes whole framed messages out of them, one at a time: a
 * client may send several queries on one connection (RFC 7766 §6.2.1).
 */
export class TcpDeframer {
  private buf = new Uint8Array(0);
  /** Adds `chunk`; returns the first whole message, or null while it is still incomplete. */
  push(chunk: Uint8Array): Uint8Array | null {
    const next = new Uint8Array(this.buf.length + chunk.length);
    next.set(this.buf);
    next.set(chunk, this.buf.length);
    this.buf = next;
    return this.next();
  }
  /** The next whole message already received, or null. */
  next(): Uint8Array | null {
    if (this.buf.length < 2) return null;
    const len = (this.buf[0]! << 8) | this.buf[1]!;
    if (this.buf.length < 2 + len) return null;
    const m = this.buf.slice(2, 2 + len);
    this.buf = this.buf.slice(2 + len);
    return m;
  }
  /** Bytes held that are not yet a whole message. */
  get pending(): number {
    return this.buf.length;
  }
}
