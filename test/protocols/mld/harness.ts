/**
 * A StackApi for MLD unit tests: real interfaces, a ManualClock and a SeededRng, the
 * stack's listened groups kept here (ff02::2, solicited-node groups, joined groups) with
 * its change event, and a record of every MLD message the module sends, decoded.
 */
import { ManualClock } from '../../../src/lib/clock.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { ALL_ROUTERS, formatIpv6, parseMac, solicitedNodeMulticast } from '../../../src/lib/addr.js';
import { InterfaceTable } from '../../../src/stack/interfaces.js';
import type { InterfaceEvent, ReceivedIcmpv6, SendOptions, StackApi, Unsubscribe } from '../../../src/stack/stack-api.js';
import type { ModuleContext, ModuleLogger, ModuleStatus } from '../../../src/protocols/module.js';
import { decodeMldMessage, encodeMldMessage, mldMessageLength, type MldMessage } from '../../../src/wire/mld.js';
import { MldModule } from '../../../src/protocols/mld/mld.js';
import type { MldConfig, MldInterfaceConfig } from '../../../src/protocols/mld/config.js';
import { ip } from '../../helpers/addr.js';
export { ip };

export interface SentMld {
  readonly at: number;
  readonly port: number;
  readonly src: string;
  readonly dst: string;
  readonly hopLimit: number | undefined;
  readonly routerAlert: number | undefined;
  readonly msg: MldMessage;
}

const quiet: ModuleLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export class FakeApi implements StackApi {
  readonly clock = new ManualClock(1_000_000);
  readonly rng = new SeededRng(7);
  readonly ifaces = new InterfaceTable();
  readonly sent: SentMld[] = [];
  readonly origin = 'mld';
  private readonly joined = new Map<string, number>();
  private readonly icmp = new Map<number, (m: ReceivedIcmpv6) => void>();
  private readonly groupWatchers = new Set<(port: number) => void>();

  constructor(ports: number) {
    for (let i = 0; i < ports; i++) {
      this.ifaces.add({ name: `eth${i}`, port: i, kind: 'tap', mac: parseMac(`02:00:00:00:00:1${i}`)!, linkLocalState: 'preferred' });
      this.ifaces.addAddress(i, ip(`2001:db8:${i}::1`), 64, 'config', 'preferred');
    }
  }
  interfaces() {
    return this.ifaces.all();
  }
  onInterfaceEvent(_fn: (ev: InterfaceEvent) => void): Unsubscribe {
    return () => {};
  }
  bindUdp(): Unsubscribe {
    return () => {};
  }
  sendUdp(): void {}
  onIcmpv6(type: number, fn: (m: ReceivedIcmpv6) => void): Unsubscribe {
    this.icmp.set(type, fn);
    return () => this.icmp.delete(type);
  }
  sendIcmpv6(o: SendOptions & { type: number; code: number; body: Uint8Array }): void {
    const whole = new Uint8Array(4 + o.body.length);
    whole[0] = o.type;
    whole.set(o.body, 4);
    const d = decodeMldMessage(whole, 0);
    if (!d.ok) throw new Error(`module sent an undecodable MLD message: ${d.reason}`);
    this.sent.push({ at: this.clock.now(), port: o.port!, src: formatIpv6(o.src!), dst: formatIpv6(o.dst), hopLimit: o.hopLimit, routerAlert: o.routerAlert, msg: d.value });
  }
  joinGroup(port: number, group: Uint8Array): void {
    const k = `${port}/${formatIpv6(group)}`;
    const n = this.joined.get(k) ?? 0;
    this.joined.set(k, n + 1);
    if (n === 0) for (const fn of this.groupWatchers) fn(port);
  }
  leaveGroup(port: number, group: Uint8Array): void {
    const k = `${port}/${formatIpv6(group)}`;
    const n = (this.joined.get(k) ?? 0) - 1;
    if (n > 0) return void this.joined.set(k, n);
    if (this.joined.delete(k)) for (const fn of this.groupWatchers) fn(port);
  }
  listenedGroups(port: number): readonly Uint8Array[] {
    const iface = this.ifaces.byPort(port)!;
    const out = new Map<string, Uint8Array>([[formatIpv6(ALL_ROUTERS), ALL_ROUTERS]]);
    for (const a of iface.addresses) out.set(formatIpv6(solicitedNodeMulticast(a.addr)), solicitedNodeMulticast(a.addr));
    for (const k of this.joined.keys()) {
      const [p, g] = k.split('/');
      if (Number(p) === port) out.set(g!, ip(g!));
    }
    return [...out.values()];
  }
  onListenedGroupsChange(fn: (port: number) => void): Unsubscribe {
    this.groupWatchers.add(fn);
    return () => this.groupWatchers.delete(fn);
  }
  addRoute(): void {}
  withdrawRoute(): void {}
  routes() {
    return [];
  }
  routeSource(): never {
    throw new Error('MLD has no routes');
  }
  bestRoutes() {
    return [];
  }
  onBestRouteChange(): Unsubscribe {
    return () => {};
  }

  /** Delivers an MLD message as the stack would: hop limit 1 and Router Alert 0 unless overridden. */
  deliver(msg: MldMessage, opts: Partial<Omit<ReceivedIcmpv6, 'body' | 'type'>> = {}): void {
    const whole = new Uint8Array(mldMessageLength(msg));
    encodeMldMessage(msg, whole, 0);
    this.deliverRaw(whole, opts);
  }
  /** Delivers raw ICMPv6 bytes (header included). */
  deliverRaw(whole: Uint8Array, opts: Partial<Omit<ReceivedIcmpv6, 'body' | 'type'>> = {}): void {
    const m: ReceivedIcmpv6 = { port: 0, src: ip('fe80::99'), dst: ip('ff02::16'), hopLimit: 1, type: whole[0]!, code: whole[1]!, body: whole.slice(4), routerAlert: 0, ...opts };
    if (m.routerAlert === undefined) delete (m as { routerAlert?: number }).routerAlert;
    this.icmp.get(m.type)!(m);
  }
  sentSince(since: number, port?: number): SentMld[] {
    return this.sent.filter((s) => s.at >= since && (port === undefined || s.port === port));
  }
}

export function interfaceConfig(name: string, over: Partial<MldInterfaceConfig> = {}): MldInterfaceConfig {
  const robustness = over.robustness ?? 2;
  const version = over.version ?? 2;
  return {
    name, version, querier: true, robustness, queryInterval: 125, queryResponseInterval: 10, lastListenerQueryInterval: 1,
    lastListenerQueryCount: robustness, startupQueryInterval: (over.queryInterval ?? 125) / 4, startupQueryCount: robustness,
    unsolicitedReportInterval: version === 1 ? 10 : 1, maxSources: 256, ...over,
  };
}

export function config(ports: number, over: Partial<MldInterfaceConfig> = {}): MldConfig {
  return { interfaces: Array.from({ length: ports }, (_, i) => interfaceConfig(`eth${i}`, over)) };
}

export interface Started {
  readonly api: FakeApi;
  readonly mld: MldModule;
  readonly commands: Map<string, (rest: string[]) => ModuleStatus | Promise<ModuleStatus>>;
  readonly metrics: Map<string, () => Array<{ labels: Record<string, unknown>; value: number }>>;
}

export function startMld(cfg: MldConfig, ports = cfg.interfaces.length, prepare?: (api: FakeApi) => void): Started {
  const api = new FakeApi(ports);
  prepare?.(api);
  const commands = new Map<string, (rest: string[]) => ModuleStatus | Promise<ModuleStatus>>();
  const metrics = new Map<string, () => Array<{ labels: Record<string, unknown>; value: number }>>();
  const collect = (spec: { name: string }, c: (emit: (labels: Record<string, unknown>, value: number) => void) => void) => {
    metrics.set(spec.name, () => {
      const out: Array<{ labels: Record<string, unknown>; value: number }> = [];
      c((labels, value) => out.push({ labels, value }));
      return out;
    });
  };
  const ctx: ModuleContext = {
    api,
    log: quiet,
    limited: () => quiet,
    metrics: { gauge: collect, counter: collect },
    commands: { register: (path, handler) => commands.set(path.join(' '), (rest) => handler({ command: path }, rest)) },
    stateDir: '/nonexistent',
  };
  const mld = new MldModule();
  mld.start(ctx, cfg);
  return { api, mld, commands, metrics };
}

/** The groups of the records of MLDv2 reports, as "TYPE group" strings (sources appended as "+s"). */
export function records(sent: readonly SentMld[]): string[] {
  return sent.flatMap((s) => (s.msg.type === 'mldv2Report' ? s.msg.records.map((r) => `${r.recordType} ${formatIpv6(r.group)}${r.sources.map((x) => ` +${formatIpv6(x)}`).join('')}`) : []));
}

export const v2Query = (group = '::', maxResponseCode = 10000, sources: string[] = [], extra: Partial<Extract<MldMessage, { type: 'mldv2Query' }>> = {}): MldMessage => ({
  type: 'mldv2Query', maxResponseCode, group: ip(group), suppressRouterProcessing: false, robustness: 2, queryIntervalCode: 125, sources: sources.map(ip), ...extra,
});
export const v1Query = (group = '::', maxResponseDelay = 10000): MldMessage => ({ type: 'mldv1Query', maxResponseDelay, group: ip(group) });
export const v2Report = (...recs: Array<[number, string, string[]?]>): MldMessage => ({
  type: 'mldv2Report', records: recs.map(([recordType, g, s]) => ({ recordType, group: ip(g), sources: (s ?? []).map(ip), auxData: new Uint8Array(0) })),
});
