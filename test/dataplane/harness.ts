/**
 * An in-process lane for unit tests: a Lane over a MemoryEngine, with tables encoded into
 * plain buffers and the punt, inject and trace rings laid out in one SharedArrayBuffer as
 * lane-task.ts does (the lane's copies between slots and ring entries rely on that).
 *
 * The topology every lane test shares:
 *
 *   H1 2001:db8:1::10 ── port 0 TAP 2001:db8:1::1/64 ┐
 *   H2 2001:db8:2::20 ── port 1 TAP 2001:db8:2::1/64 ├ lane   2001:db8:100::/48 via fe80::2 (port 1)
 *   H3 2001:db8:3::30 ── port 2 TUN 2001:db8:3::/64   ┘        2001:db8:dead::/48 reject
 *                                                              2001:db8:b1a::/48 blackhole
 */
import { ALL_NODES, ALL_ROUTERS, linkLocalFromMac, solicitedNodeMulticast } from '../../src/lib/addr.js';
import { GroupView, encodeGroups, groupsByteLength, type GroupEntry } from '../../src/shm/groups.js';
import { MfcView, encodeMfc, mfcByteLength, type MfcEntry } from '../../src/shm/mfc.js';
import { MemoryEngine } from '../../src/io/engine-memory.js';
import { MIN_SLOT_BYTES, PacketPool } from '../../src/shm/pool.js';
import { SpscRing } from '../../src/shm/ring.js';
import {
  NH_BLACKHOLE,
  NH_CONNECTED,
  NH_GATEWAY,
  NH_LOCAL,
  NH_REJECT,
  FibView,
  encodeFib,
  fibByteLength,
  type FibNexthop,
  type FibRoute,
} from '../../src/shm/fib.js';
import {
  NBR_INCOMPLETE,
  NBR_REACHABLE,
  NBR_STALE,
  NeighborView,
  encodeNeighbors,
  neighborsByteLength,
  type NeighborEntry,
} from '../../src/shm/neighbors.js';
import { Lane, type LaneTables } from '../../src/dataplane/lane.js';
import { PORT_TABLE_BYTES, PortTableView, encodePortTable, type PortEntry } from '../../src/shm/port-table.js';
import { COUNTER_WORDS, DROPS, MAX_PORTS, PORT_STRIDE, TRAFFIC, C, portCounter } from '../../src/dataplane/counters.js';
import { POLICING_WORDS, PUNT_POLICING_DEFAULTS, writePuntPolicing, type PuntPolicing } from '../../src/dataplane/punt-policer.js';
import { injectRingOffset, laneMemoryBytes, puntRingOffset, ringDataBytes, traceRingOffset } from '../../src/dataplane/lane-task.js';
import { TRACE_ENTRY_BYTES, TRACE_RING_CAPACITY, TRACE_WORDS, drainTraceRing, type TraceRecord } from '../../src/dataplane/trace.js';
import { ETHERTYPE_IPV6, encodeEthernetHeader } from '../../src/wire/ethernet.js';
import { IPV6_HEADER_LEN, encodeIpv6Header } from '../../src/wire/ipv6.js';
import { encodeIcmpv6Message } from '../../src/wire/icmpv6-message.js';
import { encodeExtensionHeaderChain, encodingLengthExtensionHeaderChain, type ExtensionHeader } from '../../src/wire/ext-headers.js';
import { ip, mac } from '../helpers/addr.js';
export { ip, mac };

export const R0_MAC = mac('02:00:00:00:00:01');
export const R1_MAC = mac('02:00:00:00:00:02');
export const R0_LL = linkLocalFromMac(R0_MAC);
export const R1_LL = linkLocalFromMac(R1_MAC);
export const R2_LL = ip('fe80::2:1');
export const R0_GLOBAL = ip('2001:db8:1::1');
export const R1_GLOBAL = ip('2001:db8:2::1');
export const R2_GLOBAL = ip('2001:db8:3::1');

export const H1 = ip('2001:db8:1::10');
export const H1_MAC = mac('52:54:00:00:01:10');
export const H1_LL = linkLocalFromMac(H1_MAC);
export const H2 = ip('2001:db8:2::20');
export const H2_MAC = mac('52:54:00:00:02:20');
export const H3 = ip('2001:db8:3::30');
export const GATEWAY = ip('fe80::2');
export const GATEWAY_MAC = mac('52:54:00:00:02:fe');
/** Behind the gateway on port 1. */
export const REMOTE = ip('2001:db8:100::5');
/** On port 1's link, with an INCOMPLETE neighbour entry. */
export const INCOMPLETE_HOST = ip('2001:db8:2::21');
/** On port 1's link, with no neighbour entry at all. */
export const UNKNOWN_HOST = ip('2001:db8:2::99');
export const NO_ROUTE = ip('2001:db8:ffff::1');
export const REJECTED = ip('2001:db8:dead::1');
export const BLACKHOLED = ip('2001:db8:b1a::1');

export const TAP0 = 0;
export const TAP1 = 1;
export const TUN2 = 2;
export const TUN2_MTU = 1400;
/** The host TUN (t6host): the appliance's kernel, which owns the router's addresses. */
export const HOST3 = 3;

export const PORTS: PortEntry[] = [
  { port: TAP0, kind: 'tap', up: true, mtu: 1500, mac: R0_MAC, linkLocal: R0_LL, errorSource: R0_GLOBAL },
  { port: TAP1, kind: 'tap', up: true, mtu: 1500, mac: R1_MAC, linkLocal: R1_LL, errorSource: R1_GLOBAL },
  { port: TUN2, kind: 'tun', up: true, mtu: TUN2_MTU, mac: null, linkLocal: R2_LL, errorSource: R2_GLOBAL },
  { port: HOST3, kind: 'tun', up: true, host: true, mtu: 1500, mac: null, linkLocal: ip('fe80::3:1'), errorSource: R0_GLOBAL },
];

const NEXTHOPS: FibNexthop[] = [
  { kind: NH_CONNECTED, port: TAP0, mtu: 1500 },
  { kind: NH_CONNECTED, port: TAP1, mtu: 1500 },
  { kind: NH_CONNECTED, port: TUN2, mtu: TUN2_MTU },
  { kind: NH_LOCAL, port: TAP0 },
  { kind: NH_LOCAL, port: TAP1 },
  { kind: NH_GATEWAY, port: TAP1, gateway: GATEWAY, mtu: 1500 },
  { kind: NH_REJECT, port: 0 },
  { kind: NH_BLACKHOLE, port: 0 },
];

const ROUTES: FibRoute[] = [
  { prefix: ip('2001:db8:1::'), len: 64, nexthop: 0 },
  { prefix: ip('2001:db8:2::'), len: 64, nexthop: 1 },
  { prefix: ip('2001:db8:3::'), len: 64, nexthop: 2 },
  { prefix: R0_GLOBAL, len: 128, nexthop: 3 },
  { prefix: R1_GLOBAL, len: 128, nexthop: 4 },
  { prefix: ip('2001:db8:100::'), len: 48, nexthop: 5 },
  { prefix: ip('2001:db8:dead::'), len: 48, nexthop: 6 },
  { prefix: ip('2001:db8:b1a::'), len: 48, nexthop: 7 },
];

const NEIGHBORS: NeighborEntry[] = [
  { port: TAP0, addr: H1, mac: H1_MAC, state: NBR_REACHABLE },
  { port: TAP0, addr: H1_LL, mac: H1_MAC, state: NBR_STALE },
  { port: TAP1, addr: H2, mac: H2_MAC, state: NBR_REACHABLE },
  { port: TAP1, addr: GATEWAY, mac: GATEWAY_MAC, state: NBR_STALE },
  { port: TAP1, addr: INCOMPLETE_HOST, mac: new Uint8Array(6), state: NBR_INCOMPLETE },
];

/**
 * The groups the router listens to, as the stack lists them: all-nodes, all-routers and the
 * solicited-node groups of each port's addresses.
 */
export const LISTENED_GROUPS: GroupEntry[] = PORTS.flatMap((p) =>
  [ALL_NODES, ALL_ROUTERS, solicitedNodeMulticast(p.linkLocal), solicitedNodeMulticast(p.errorSource)].map((group) => ({ port: p.port, group })),
);

/** Views over tables encoded into plain buffers; the multicast ones may be replaced (publishGroups, publishMfc). */
class StaticTables implements LaneTables {
  readonly fib = new FibView();
  readonly neighbors = new NeighborView();
  readonly ports = new PortTableView();
  readonly groups = new GroupView();
  readonly mfc = new MfcView();

  /** `tapMtu`: the MTU of the TAP ports and of the next hops through them (jumbo tests). */
  constructor(tapMtu = 1500) {
    const onTap = (port: number) => PORTS.some((p) => p.port === port && p.kind === 'tap');
    const nexthops = NEXTHOPS.map((nh) => ('mtu' in nh && onTap(nh.port) ? { ...nh, mtu: tapMtu } : nh));
    const ports = PORTS.map((p) => (p.kind === 'tap' ? { ...p, mtu: tapMtu } : p));
    const fibBytes = new Uint8Array(fibByteLength(ROUTES, nexthops));
    encodeFib(ROUTES, nexthops, fibBytes);
    this.fib.bind(fibBytes, 0);
    const nbrBytes = new Uint8Array(neighborsByteLength(NEIGHBORS));
    encodeNeighbors(NEIGHBORS, nbrBytes);
    this.neighbors.bind(nbrBytes, 0);
    const portBytes = new Uint8Array(PORT_TABLE_BYTES);
    encodePortTable(ports, portBytes);
    this.ports.bind(portBytes, 0);
    this.publishGroups(LISTENED_GROUPS);
    this.publishMfc([]);
  }

  publishPorts(entries: readonly PortEntry[]): void {
    const bytes = new Uint8Array(PORT_TABLE_BYTES);
    encodePortTable(entries, bytes);
    this.ports.bind(bytes, 0);
  }

  publishGroups(entries: readonly GroupEntry[]): void {
    const bytes = new Uint8Array(groupsByteLength(entries));
    encodeGroups(entries, bytes);
    this.groups.bind(bytes, 0);
  }

  publishMfc(entries: readonly MfcEntry[]): void {
    const bytes = new Uint8Array(mfcByteLength(entries));
    encodeMfc(entries, bytes);
    this.mfc.bind(bytes, 0);
  }

  beforeWait(): void {}
  refresh(): void {}
}

export interface Punted {
  readonly packet: Uint8Array;
  readonly port: number;
  readonly flags: number;
  readonly aux: number;
}

export interface HarnessOptions {
  readonly batch?: number;
  readonly poolSlots?: number;
  /** Bytes per pool slot (default MIN_SLOT_BYTES: a 1500-byte MTU's). */
  readonly slotBytes?: number;
  readonly ringCapacity?: number;
  /** MTU of the TAP ports (default 1500). */
  readonly tapMtu?: number;
  readonly icmpRate?: number;
  readonly icmpBurst?: number;
  /** Control-plane policing (default: the config's defaults). */
  readonly policing?: PuntPolicing;
}

export class LaneHarness {
  readonly pool: PacketPool;
  readonly engine: MemoryEngine;
  readonly counters = new Float64Array(COUNTER_WORDS);
  readonly traceControl = new Int32Array(new SharedArrayBuffer(TRACE_WORDS * 4));
  /** The punt policing block, as LaneSet shares it; rewrite it with writePuntPolicing(). */
  readonly policing = new Int32Array(new SharedArrayBuffer(POLICING_WORDS * 4));
  readonly lane: Lane;
  /** The lane's clock, in milliseconds; the token buckets (ICMPv6 errors, punt policing) read it. */
  now = 0;
  private readonly puntConsumer: SpscRing;
  private readonly injectProducer: SpscRing;
  private readonly traceConsumer: SpscRing;
  private readonly tables: StaticTables;

  constructor(opts: HarnessOptions = {}) {
    const geometry = { poolSlots: opts.poolSlots ?? 64, slotBytes: opts.slotBytes ?? MIN_SLOT_BYTES, ringCapacity: opts.ringCapacity ?? 16 };
    const { poolSlots: slots, ringCapacity } = geometry;
    const ringData = ringDataBytes(geometry.slotBytes);
    const memory = new SharedArrayBuffer(laneMemoryBytes(geometry));
    this.pool = new PacketPool(memory, slots, geometry.slotBytes, true);
    this.engine = new MemoryEngine(this.pool);
    for (const p of PORTS) this.engine.addPort(p.port, -1);
    // Each side of a ring keeps its own cursor: the lane gets one object, the test the other.
    const ring = (offset: number, capacity: number, bytes: number, init: boolean) => new SpscRing(memory, offset, capacity, bytes, init);
    const puntAt = puntRingOffset(geometry);
    const injectAt = injectRingOffset(geometry);
    const traceAt = traceRingOffset(geometry);
    const lanePunt = ring(puntAt, ringCapacity, ringData, true);
    const laneInject = ring(injectAt, ringCapacity, ringData, true);
    const laneTrace = ring(traceAt, TRACE_RING_CAPACITY, TRACE_ENTRY_BYTES, true);
    this.puntConsumer = ring(puntAt, ringCapacity, ringData, false);
    this.injectProducer = ring(injectAt, ringCapacity, ringData, false);
    this.traceConsumer = ring(traceAt, TRACE_RING_CAPACITY, TRACE_ENTRY_BYTES, false);
    writePuntPolicing(this.policing, opts.policing ?? PUNT_POLICING_DEFAULTS);
    this.lane = new Lane(
      this.pool,
      this.engine,
      lanePunt,
      laneInject,
      this.counters,
      (this.tables = new StaticTables(opts.tapMtu)),
      { batch: opts.batch ?? 32, icmpRate: opts.icmpRate ?? 1000, icmpBurst: opts.icmpBurst ?? 100, policing: this.policing, now: () => this.now },
      { control: this.traceControl, ring: laneTrace },
    );
  }

  close(): void {
    this.engine.close();
  }

  /** Replaces the port table the lane reads (default: PORTS). */
  publishPorts(entries: readonly PortEntry[]): void {
    this.tables.publishPorts(entries);
  }

  /** Replaces the group filter the lane reads (default: LISTENED_GROUPS). */
  publishGroups(entries: readonly GroupEntry[]): void {
    this.tables.publishGroups(entries);
  }

  /** Replaces the MFC the lane reads (default: empty). */
  publishMfc(entries: readonly MfcEntry[]): void {
    this.tables.publishMfc(entries);
  }

  /** Receives `frames` on `port` in one batch, runs the lane once, returns what it transmitted. */
  run(port: number, ...frames: Uint8Array[]): Array<{ port: number; frame: Uint8Array }> {
    for (const f of frames) this.engine.inject(port, f);
    this.engine.clearTransmitted();
    this.lane.runOnce(0);
    return this.engine.transmitted();
  }

  /** Takes everything the lane punted since the last call. */
  punted(): Punted[] {
    const ring = this.puntConsumer;
    const out: Punted[] = [];
    for (let e = ring.peek(); e >= 0; e = ring.peek()) {
      const d = ring.dataOffset(e);
      out.push({ packet: ring.bytes.slice(d, d + ring.len(e)), port: ring.port(e), flags: ring.flags(e), aux: ring.slot(e) });
      ring.release();
    }
    return out;
  }

  /** The control plane's end of the inject ring, for tests that write entries by hand. */
  injectRing(): SpscRing {
    return this.injectProducer;
  }

  /** Queues what the control plane would send (Datapath.inject); false when the ring is full. */
  inject(port: number, flags: number, data: Uint8Array): boolean {
    const ring = this.injectProducer;
    const e = ring.tryReserve();
    if (e < 0) return false;
    ring.bytes.set(data, ring.dataOffset(e));
    ring.setMeta(e, -1, data.length, port, flags);
    ring.publish();
    return true;
  }

  /** Takes the trace records the lane published, decoded as LaneSet does. */
  traced(): TraceRecord[] {
    const out: TraceRecord[] = [];
    drainTraceRing(this.traceConsumer, 0, out);
    return out;
  }

  counter(port: number, index: number): number {
    return this.counters[portCounter(port, index)]!;
  }

  /** A copy of the per-port counters, for moved(). */
  snapshot(): Float64Array {
    return this.counters.slice(0, MAX_PORTS * PORT_STRIDE);
  }

  /**
   * Every per-port counter that changed since `before`, as "port:name" → delta; byte
   * counters are left out (the forwarding test checks them on their own).
   */
  moved(before: Float64Array): Record<string, number> {
    const out: Record<string, number> = {};
    for (let port = 0; port < MAX_PORTS; port++) {
      for (const [name, index] of Object.entries(C)) {
        if (name === 'rx_bytes' || name === 'tx_bytes') continue;
        const delta = this.counters[portCounter(port, index)]! - before[portCounter(port, index)]!;
        if (delta !== 0) out[`${port}:${name}`] = delta;
      }
    }
    return out;
  }

  /** Σ of every drop reason of `port`. */
  drops(port: number): number {
    let total = 0;
    for (let i = 0; i < DROPS.length; i++) total += this.counter(port, TRAFFIC.length + i);
    return total;
  }
}

// ---- packet builders (the codecs in src/wire do the work) ----------------------------

export interface PacketSpec {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly hopLimit?: number;
  readonly trafficClass?: number;
  readonly flowLabel?: number;
  /** Extension headers between the fixed header and the upper layer. */
  readonly ext?: readonly ExtensionHeader[];
  /** Upper layer: an ICMPv6 Echo Request with this many data bytes (default), or raw bytes with `nextHeader`. */
  readonly echoData?: number;
  readonly raw?: { readonly nextHeader: number; readonly bytes: Uint8Array };
}

/** An IPv6 packet: fixed header, optional extension headers, then an Echo Request or raw bytes. */
export function ipv6Packet(spec: PacketSpec): Uint8Array {
  const ext = spec.ext ?? [];
  const upperProtocol = spec.raw?.nextHeader ?? 58;
  const extLen = ext.length === 0 ? 0 : encodingLengthExtensionHeaderChain({ headers: ext, upperProtocol });
  let upper: Uint8Array;
  if (spec.raw) {
    upper = spec.raw.bytes;
  } else {
    const data = Uint8Array.from({ length: spec.echoData ?? 16 }, (_, i) => (i * 7 + 3) & 0xff);
    upper = new Uint8Array(8 + data.length);
    encodeIcmpv6Message({ type: 'echoRequest', identifier: 0x1234, sequence: 7, data }, spec.src, spec.dst, upper, 0);
  }
  const pkt = new Uint8Array(IPV6_HEADER_LEN + extLen + upper.length);
  const firstNext = ext.length === 0 ? upperProtocol : EXT_CODE[ext[0]!.kind];
  encodeIpv6Header(
    {
      trafficClass: spec.trafficClass ?? 0,
      flowLabel: spec.flowLabel ?? 0,
      payloadLength: extLen + upper.length,
      nextHeader: firstNext,
      hopLimit: spec.hopLimit ?? 64,
      src: spec.src,
      dst: spec.dst,
    },
    pkt,
    0,
  );
  if (ext.length > 0) encodeExtensionHeaderChain({ headers: ext, upperProtocol }, pkt, IPV6_HEADER_LEN);
  pkt.set(upper, IPV6_HEADER_LEN + extLen);
  return pkt;
}

const EXT_CODE: Record<ExtensionHeader['kind'], number> = {
  hopByHop: 0,
  destinationOptions: 60,
  routing: 43,
  fragment: 44,
  authentication: 51,
};

/** Wraps an IPv6 packet (or any payload, with `etherType`) in Ethernet. */
export function ethFrame(dst: Uint8Array, src: Uint8Array, payload: Uint8Array, etherType = ETHERTYPE_IPV6): Uint8Array {
  const frame = new Uint8Array(14 + payload.length);
  encodeEthernetHeader({ dst, src, etherType }, frame, 0);
  frame.set(payload, 14);
  return frame;
}

/** A frame from H1 to the router's port 0 carrying `pkt`. */
export function fromH1(pkt: Uint8Array): Uint8Array {
  return ethFrame(R0_MAC, H1_MAC, pkt);
}
