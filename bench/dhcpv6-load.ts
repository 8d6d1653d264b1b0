#!/usr/bin/env node
/**
 * The DHCPv6 load client of bench/dhcpv6.ts. It runs inside the client namespace (started by
 * `ip netns exec`), on one UDP socket bound to port 546 on the link, and plays many clients
 * at once: client i has its own DUID-LL (RFC 8415 §11.4) made from i, so the server keeps a
 * binding per i as it would for i separate hosts.
 *
 * Each client does one exchange (§18.2.1): Solicit → Advertise → Request → Reply, or with
 * `--rapid-commit` Solicit (with Rapid Commit) → Reply (§18.2.1, §21.14). At most `--window`
 * exchanges are in flight; each finished one starts the next, so the server is kept busy
 * without being flooded. An unanswered message is sent again after 1 s (SOL_TIMEOUT and
 * REQ_TIMEOUT, §7.6; the bench does not randomize or back off: a lost message is a cost
 * to count, not a condition to ride out) and the exchange fails after MAX_TRIES sends.
 *
 *   ip netns exec NS node dist/bench/dhcpv6-load.js --interface IF --count N [--window W] [--rapid-commit]
 *
 * Prints one JSON line (LoadResult) on stdout when every exchange has finished or failed.
 */
import { createSocket, type Socket } from 'node:dgram';
import { Command } from 'commander';
import { formatIpv6 } from '../src/lib/addr.js';
import {
  DHCP6_CLIENT_PORT,
  DHCP6_MSG,
  DHCP6_SERVER_PORT,
  decodeDhcp6,
  encodeDhcp6ToBytes,
  filterOptions,
  findOption,
  type Dhcp6ClientMessage,
  type Dhcp6Option,
  type Duid,
} from '../src/wire/dhcpv6.js';

/** What the client reports; bench/dhcpv6.ts parses it. */
export interface LoadResult {
  readonly leases: number;
  readonly failed: number;
  readonly retransmissions: number;
  /** From the first Solicit to the last lease. */
  readonly elapsedMs: number;
  /** Addresses leased twice: the server gave one address to two clients. */
  readonly duplicateAddresses: number;
  /** The client's own CPU, to see whether it, not the server, was the bottleneck. */
  readonly clientCpuSeconds: number;
}

const ALL_DHCP_RELAY_AGENTS_AND_SERVERS = 'ff02::1:2';
const RETRANSMIT_MS = 1000;
const MAX_TRIES = 5;
const IAID = 1;

type Phase = 'solicit' | 'request';

interface Exchange {
  readonly index: number;
  readonly clientId: Dhcp6Option;
  phase: Phase;
  startedAt: number;
  sentAt: number;
  tries: number;
  /** The Advertise's Server Identifier and IA_NA, echoed in the Request (§18.2.2). */
  serverId: Dhcp6Option | null;
  offer: Dhcp6Option | null;
}

/** DUID-LL with a locally administered MAC built from the client's index. */
function clientDuid(index: number): Duid {
  const mac = Uint8Array.of(0x02, 0x64, (index >>> 24) & 0xff, (index >>> 16) & 0xff, (index >>> 8) & 0xff, index & 0xff);
  return { type: 3, hwType: 1, linkLayer: mac };
}

/** Solicit and Request of client i have their own transaction IDs (§16: one per exchange). */
function transactionId(index: number, phase: Phase): number {
  return ((index << 1) | (phase === 'request' ? 1 : 0)) & 0xff_ffff;
}

class LoadClient {
  private readonly inFlight = new Map<number, Exchange>();
  private readonly addresses = new Set<string>();
  private next = 0;
  private leases = 0;
  private failed = 0;
  private retransmissions = 0;
  private duplicateAddresses = 0;
  private firstSentAt = 0;
  private lastLeaseAt = 0;
  private readonly destination: string;
  private finish: () => void = () => undefined;

  constructor(
    private readonly socket: Socket,
    ifname: string,
    private readonly count: number,
    private readonly window: number,
    private readonly rapidCommit: boolean,
  ) {
    this.destination = `${ALL_DHCP_RELAY_AGENTS_AND_SERVERS}%${ifname}`;
  }

  run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.finish = resolve));
    this.socket.on('message', (bytes) => this.received(bytes));
    this.firstSentAt = performance.now();
    while (this.inFlight.size < this.window && this.next < this.count) this.start();
    const timer = setInterval(() => this.retransmit(), 100);
    return done.finally(() => clearInterval(timer));
  }

  result(clientCpuSeconds: number): LoadResult {
    return {
      leases: this.leases,
      failed: this.failed,
      retransmissions: this.retransmissions,
      elapsedMs: this.lastLeaseAt - this.firstSentAt,
      duplicateAddresses: this.duplicateAddresses,
      clientCpuSeconds,
    };
  }

  private start(): void {
    const index = this.next++;
    const now = performance.now();
    const exchange: Exchange = { index, clientId: { kind: 'clientId', duid: clientDuid(index) }, phase: 'solicit', startedAt: now, sentAt: now, tries: 0, serverId: null, offer: null };
    this.inFlight.set(transactionId(index, 'solicit'), exchange);
    this.send(exchange);
  }

  private send(e: Exchange): void {
    const now = performance.now();
    e.sentAt = now;
    e.tries++;
    // §21.9: every message carries Elapsed Time, in hundredths of a second since the exchange began.
    const elapsed: Dhcp6Option = { kind: 'elapsedTime', centiseconds: Math.min(0xffff, Math.round((now - e.startedAt) / 10)) };
    const options: Dhcp6Option[] =
      e.phase === 'solicit'
        ? [e.clientId, elapsed, { kind: 'iaNa', iaid: IAID, t1: 0, t2: 0, options: [] }, ...(this.rapidCommit ? [{ kind: 'rapidCommit' } as const] : [])]
        : [e.clientId, e.serverId!, elapsed, e.offer!];
    const msg: Dhcp6ClientMessage = {
      type: 'client',
      msgType: e.phase === 'solicit' ? DHCP6_MSG.SOLICIT : DHCP6_MSG.REQUEST,
      transactionId: transactionId(e.index, e.phase),
      options,
    };
    this.socket.send(encodeDhcp6ToBytes(msg), DHCP6_SERVER_PORT, this.destination);
  }

  private received(bytes: Buffer): void {
    const decoded = decodeDhcp6(bytes);
    if (!decoded.ok || decoded.value.type !== 'client') return;
    const msg = decoded.value;
    const e = this.inFlight.get(msg.transactionId);
    if (e === undefined) return;
    const serverId = findOption(msg.options, 'serverId');
    const iaNa = filterOptions(msg.options, 'iaNa').find((ia) => ia.iaid === IAID);
    const address = iaNa === undefined ? undefined : findOption(iaNa.options, 'iaAddr');
    if (serverId === undefined || iaNa === undefined || address === undefined) return;
    if (msg.msgType === DHCP6_MSG.ADVERTISE && e.phase === 'solicit') {
      this.inFlight.delete(msg.transactionId);
      e.phase = 'request';
      e.tries = 0;
      e.serverId = serverId;
      e.offer = { kind: 'iaNa', iaid: IAID, t1: 0, t2: 0, options: [{ ...address, preferred: 0, valid: 0 }] };
      this.inFlight.set(transactionId(e.index, 'request'), e);
      this.send(e);
      return;
    }
    const rapidReply = e.phase === 'solicit' && this.rapidCommit && findOption(msg.options, 'rapidCommit') !== undefined;
    if (msg.msgType !== DHCP6_MSG.REPLY || (e.phase !== 'request' && !rapidReply)) return;
    this.inFlight.delete(msg.transactionId);
    const text = formatIpv6(address.address);
    if (this.addresses.has(text)) this.duplicateAddresses++;
    this.addresses.add(text);
    this.leases++;
    this.lastLeaseAt = performance.now();
    this.advance();
  }

  private retransmit(): void {
    const now = performance.now();
    for (const [tid, e] of this.inFlight) {
      if (now - e.sentAt < RETRANSMIT_MS) continue;
      if (e.tries >= MAX_TRIES) {
        this.inFlight.delete(tid);
        this.failed++;
        this.advance();
        continue;
      }
      this.retransmissions++;
      this.send(e);
    }
  }

  private advance(): void {
    if (this.next < this.count) this.start();
    else if (this.inFlight.size === 0) this.finish();
  }
}

async function main(): Promise<void> {
  const o = new Command()
    .requiredOption('--interface <name>', 'the link to the server, inside this namespace')
    .requiredOption('--count <n>', 'clients, one exchange each')
    .option('--window <n>', 'exchanges in flight at most', '64')
    .option('--rapid-commit', 'Solicit with Rapid Commit: two messages per lease instead of four')
    .parse()
    .opts<{ interface: string; count: string; window: string; rapidCommit?: boolean }>();
  const socket = createSocket({ type: 'udp6', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: DHCP6_CLIENT_PORT, address: '::' }, () => resolve());
  });
  socket.setMulticastInterface(`::%${o.interface}`);
  // A deep receive buffer so a burst of replies to the whole window is not dropped here.
  socket.setRecvBufferSize(4 * 1024 * 1024);
  const cpuBefore = process.cpuUsage();
  const client = new LoadClient(socket, o.interface, Number(o.count), Number(o.window), o.rapidCommit === true);
  await client.run();
  const cpu = process.cpuUsage(cpuBefore);
  socket.close();
  process.stdout.write(`${JSON.stringify(client.result((cpu.user + cpu.system) / 1e6))}\n`);
}

await main();
