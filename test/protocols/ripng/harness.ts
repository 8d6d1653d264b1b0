/**
 * A StackApi for RIPng unit tests: real interfaces and a real RIB, a ManualClock and a
 * SeededRng, and a record of every datagram the module sends (decoded), so tests read
 * updates the way a neighbour would.
 */
import { ManualClock } from '../../../src/lib/clock.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { formatIpv6, parseMac } from '../../../src/lib/addr.js';
import { InterfaceTable } from '../../../src/stack/interfaces.js';
import { Rib, connectedRoutes, type RibRoute } from '../../../src/stack/rib.js';
import type { InterfaceEvent, ReceivedUdp, SendOptions, StackApi, Unsubscribe } from '../../../src/stack/stack-api.js';
import type { ModuleContext, ModuleLogger, ModuleStatus } from '../../../src/protocols/module.js';
import { decodeRipng, encodeRipng, encodingLengthRipng, type RipngPacket, type RipngRte } from '../../../src/wire/ripng.js';
import { RipngModule } from '../../../src/protocols/ripng/ripng.js';
import type { RipngConfig, RipngInterfaceConfig } from '../../../src/protocols/ripng/config.js';
import { ip } from '../../helpers/addr.js';
export { ip };

export interface Sent {
  readonly at: number;
  readonly port: number;
  readonly src: string;
  readonly dst: string;
  readonly hopLimit: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly bytes: number;
  readonly msg: RipngPacket;
}

const quiet: ModuleLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export class FakeApi implements StackApi {
  readonly clock = new ManualClock(1_000_000);
  readonly rng = new SeededRng(42);
  readonly ifaces = new InterfaceTable();
  readonly rib = new Rib();
  readonly sent: Sent[] = [];
  readonly groups = new Set<string>();
  readonly origin = 'ripng';
  private udp: ((d: ReceivedUdp) => void) | null = null;
  private readonly ifaceListeners: Array<(ev: InterfaceEvent) => void> = [];

  constructor(ports: number) {
    for (let i = 0; i < ports; i++) {
      this.ifaces.add({ name: `eth${i}`, port: i, kind: 'tap', mac: parseMac(`02:00:00:00:00:0${i + 1}`)!, linkLocalState: 'preferred' });
      this.ifaces.addAddress(i, ip(`2001:db8:${i}::1`), 64, 'config', 'preferred');
    }
    const { connected, local } = connectedRoutes(this.ifaces);
    this.rib.replaceOrigin('connected', connected);
    this.rib.replaceOrigin('local', local);
  }

  interfaces() {
    return this.ifaces.all();
  }
  onInterfaceEvent(fn: (ev: InterfaceEvent) => void): Unsubscribe {
    this.ifaceListeners.push(fn);
    return () => this.ifaceListeners.splice(this.ifaceListeners.indexOf(fn), 1);
  }
  linkDown(port: number): void {
    const iface = this.ifaces.byPort(port)!;
    iface.up = false;
    for (const fn of this.ifaceListeners) fn({ type: 'link-down', iface });
  }
  bindUdp(_port: number, fn: (d: ReceivedUdp) => void): Unsubscribe {
    this.udp = fn;
    return () => (this.udp = null);
  }
  sendUdp(o: SendOptions & { srcPort: number; dstPort: number; payload: Uint8Array }): void {
    const d = decodeRipng(o.payload);
    if (!d.ok) throw new Error(`module sent an undecodable message: ${d.reason}`);
    this.sent.push({
      at: this.clock.now(), port: o.port!, src: formatIpv6(o.src!), dst: formatIpv6(o.dst), hopLimit: o.hopLimit ?? 64,
      srcPort: o.srcPort, dstPort: o.dstPort, bytes: 40 + 8 + o.payload.length, msg: d.value,
    });
  }
  onIcmpv6(): Unsubscribe {
    return () => {};
  }
  sendIcmpv6(): void {}
  joinGroup(port: number, group: Uint8Array): void {
    this.groups.add(`${port}/${formatIpv6(group)}`);
  }
  leaveGroup(port: number, group: Uint8Array): void {
    this.groups.delete(`${port}/${formatIpv6(group)}`);
  }
  addRoute(route: Omit<RibRoute, 'origin'>): void {
    this.rib.add({ ...route, origin: 'ripng' });
  }
  withdrawRoute(prefix: Uint8Array, prefixLen: number): void {
    this.rib.remove(prefix, prefixLen, 'ripng');
  }
  routes(): readonly RibRoute[] {
    return this.rib.all().filter((r) => r.origin === 'ripng');
  }
  routeSource(): never {
    throw new Error('RIPng has one route origin');
  }
  bestRoutes(): readonly RibRoute[] {
    return this.rib.bestRoutes();
  }
  onBestRouteChange(fn: (prefix: Uint8Array, prefixLen: number, best: RibRoute | undefined) => void): Unsubscribe {
    return this.rib.subscribe((ev) => fn(ev.prefix, ev.prefixLen, ev.best));
  }

  /** Delivers a datagram as the stack would. */
  deliver(d: Partial<ReceivedUdp> & { payload: Uint8Array }): void {
    this.udp!({ port: 0, src: ip('fe80::99'), dst: ip('ff02::9'), srcPort: 521, dstPort: 521, hopLimit: 255, ...d });
  }

  /** A response from `src` (default fe80::99) on `port` carrying `rtes`. */
  respond(rtes: RipngRte[], opts: Partial<ReceivedUdp> = {}): void {
    this.deliver({ ...opts, payload: message(2, rtes) });
  }

  /** Messages sent since `since`, optionally only on `port`. */
  sentSince(since: number, port?: number): Sent[] {
    return this.sent.filter((s) => s.at >= since && (port === undefined || s.port === port));
  }
}

export function message(command: number, rtes: RipngRte[], version = 1, update?: { flush: number; seq: number; version?: number }): Uint8Array {
  const p: RipngPacket = update === undefined ? { command, version, reserved: 0, rtes } : { command, version, reserved: 0, update: { version: 1, ...update }, rtes };
  const out = new Uint8Array(encodingLengthRipng(p));
  encodeRipng(p, out, 0);
  return out;
}

export function rte(prefix: string, metric: number, tag = 0): RipngRte {
  const [addr, len] = prefix.split('/');
  return { prefix: ip(addr!), tag, prefixLen: Number(len), metric };
}

export function nextHop(addr: string): RipngRte {
  return { prefix: ip(addr), tag: 0, prefixLen: 0, metric: 0xff };
}

/** RTEs of `msgs` as "prefix/len metric" strings (next hops as "nh ADDR"). */
export function shown(msgs: readonly Sent[]): string[] {
  return msgs.flatMap((s) => s.msg.rtes.map((r) => (r.metric === 0xff ? `nh ${formatIpv6(r.prefix)}` : `${formatIpv6(r.prefix)}/${r.prefixLen} ${r.metric}`)));
}

export function interfaceConfig(name: string, over: Partial<RipngInterfaceConfig> = {}): RipngInterfaceConfig {
  return {
    name, passive: false, splitHorizon: 'poisoned', metricIn: 1, offsetOut: 0, timers: { update: 30, timeout: 180, garbage: 120 },
    defaultOnly: false, accept: [], advertise: [], aggregate: [], demand: null, ...over,
  };
}

export function config(ports: number, over: Partial<RipngConfig> = {}, perInterface: Partial<RipngInterfaceConfig> = {}): RipngConfig {
  return {
    preference: 120, receiveOnly: false, install: true, tag: 0, ecmp: 1, routeLog: null, ageStatic: false, siteLocal: false,
    redistribute: {
      connected: { enabled: true, metric: 1, tag: 0, prefixes: [] },
      static: { enabled: false, metric: 1, tag: 0, prefixes: [], splitHorizon: true },
    },
    defaultOriginate: null,
    interfaces: Array.from({ length: ports }, (_, i) => interfaceConfig(`eth${i}`, perInterface)),
    ...over,
  };
}

export interface Started {
  readonly api: FakeApi;
  readonly ripng: RipngModule;
  readonly commands: Map<string, (rest: string[]) => ModuleStatus | Promise<ModuleStatus>>;
  readonly metrics: Map<string, () => Array<{ labels: object; value: number }>>;
  readonly warnings: string[];
}

export function startRipng(cfg: RipngConfig, ports = cfg.interfaces.length, prepare?: (api: FakeApi) => void): Started {
  const api = new FakeApi(ports);
  prepare?.(api);
  const commands = new Map<string, (rest: string[]) => ModuleStatus | Promise<ModuleStatus>>();
  const metrics = new Map<string, () => Array<{ labels: object; value: number }>>();
  const warnings: string[] = [];
  const collect = (spec: { name: string }, c: (emit: (labels: object, value: number) => void) => void) => {
    metrics.set(spec.name, () => {
      const out: Array<{ labels: object; value: number }> = [];
      c((labels, value) => out.push({ labels, value }));
      return out;
    });
  };
  const ctx: ModuleContext = {
    api,
    log: quiet,
    limited: (kind) => ({ ...quiet, warn: () => void warnings.push(kind) }),
    metrics: { gauge: collect, counter: collect },
    commands: { register: (path, handler) => commands.set(path.join(' '), (rest) => handler({ command: path }, rest)) },
    stateDir: '/nonexistent',
  };
  const ripng = new RipngModule();
  ripng.start(ctx, cfg);
  return { api, ripng, commands, metrics, warnings };
}
