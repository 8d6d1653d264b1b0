/**
 * Fake DNS servers behind the resolver's DnsTransport, for unit tests on the manual clock.
 * Each server is a function from the decoded query (and how it came) to what it does:
 * answer (possibly from a spoofed address or port, or with raw bytes), say nothing, or,
 * over TCP, refuse the connection. Every query is logged with the clock time it was sent.
 */
import type { Clock } from '../../../src/lib/clock.js';
import { decodeDns, encodeDnsToBytes, type DnsMessage, type DnsRecord } from '../../../src/wire/dns.js';
import { formatDnsServer, type DnsServer, type DnsTransport, type Peer, type TcpExchange, type UdpChannel } from '../../../src/protocols/dns/transport.js';

export interface Sent {
  readonly at: number;
  readonly server: string;
  readonly via: 'udp' | 'tcp';
  readonly query: DnsMessage;
}

export interface Reply {
  readonly message?: DnsMessage;
  /** Raw bytes instead of `message`. */
  readonly bytes?: Uint8Array;
  /** Source other than the queried server's address and port. */
  readonly from?: Peer;
}

/** null: no reply (UDP), a hung connection (TCP). 'refuse': TCP connection refused. */
export type Behaviour = (query: DnsMessage, via: 'udp' | 'tcp') => Reply | Reply[] | null | 'refuse';

export class FakeNet implements DnsTransport {
  readonly sent: Sent[] = [];
  private readonly servers = new Map<string, Behaviour>();
  openChannels = 0;

  constructor(private readonly clock: Clock) {}

  serve(server: DnsServer, behaviour: Behaviour): void {
    this.servers.set(formatDnsServer(server), behaviour);
  }

  private handle(server: DnsServer, bytes: Uint8Array, via: 'udp' | 'tcp'): ReturnType<Behaviour> {
    const d = decodeDns(bytes);
    if (!d.ok) throw new Error(`the resolver sent an undecodable query: ${d.reason}`);
    this.sent.push({ at: this.clock.now(), server: formatDnsServer(server), via, query: d.value });
    return this.servers.get(formatDnsServer(server))?.(d.value, via) ?? null;
  }

  openUdp(): UdpChannel {
    let listener: ((bytes: Uint8Array, from: Peer) => void) | null = null;
    this.openChannels++;
    return {
      send: (server, bytes) => {
        const r = this.handle(server, bytes, 'udp');
        if (r === null || r === 'refuse') return;
        for (const one of Array.isArray(r) ? r : [r]) {
          const out = one.bytes ?? encodeDnsToBytes(one.message!);
          const from = one.from ?? { address: server.address, port: server.port };
          queueMicrotask(() => listener?.(out, from));
        }
      },
      onMessage: (fn) => {
        listener = fn;
      },
      close: () => {
        listener = null;
        this.openChannels--;
      },
    };
  }

  tcp(server: DnsServer, query: Uint8Array): TcpExchange {
    const r = this.handle(server, query, 'tcp');
    let reject: (e: Error) => void = () => undefined;
    const reply = new Promise<Uint8Array>((res, rej) => {
      reject = rej;
      if (r === 'refuse') rej(new Error('connection refused'));
      else if (r !== null) {
        const one = Array.isArray(r) ? r[0]! : r;
        res(one.bytes ?? encodeDnsToBytes(one.message!));
      }
    });
    return { reply, abort: () => reject(new Error('timed out')) };
  }
}

/** A reply to `q`, echoing its ID, question and (unless told otherwise) its OPT. */
export function replyTo(
  q: DnsMessage,
  opts: { rcode?: number; answers?: DnsRecord[]; authorities?: DnsRecord[]; tc?: boolean; edns?: 'echo' | 'none'; id?: number; name?: string } = {},
): Reply {
  return {
    message: {
      ...q,
      id: opts.id ?? q.id,
      qr: true,
      ra: true,
      tc: opts.tc ?? false,
      rcode: opts.rcode ?? 0,
      questions: opts.name === undefined ? q.questions : [{ ...q.questions[0]!, name: opts.name }],
      answers: opts.answers ?? [],
      authorities: opts.authorities ?? [],
      edns: opts.edns === 'none' ? null : q.edns,
    },
  };
}

/** Lets queued microtasks and immediates run (replies are delivered in microtasks). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
