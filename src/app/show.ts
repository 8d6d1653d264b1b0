/**
 * The `show` commands of turtle6ctl for the core (interfaces, routes, neighbors, lanes,
 * counters) and the lane test hook. Each returns data for --json and a table for people.
 */
import { formatIpv6, formatMac } from '../lib/addr.js';
import type { Stack } from '../stack/stack.js';
import type { LaneSet } from '../dataplane/lanes.js';
import { DROPS, ECMP_MEMBER_BASE, MAX_PORTS, TRAFFIC, portCounter, sumCounter } from '../dataplane/counters.js';
import type { RibNexthop, RibRoute } from '../stack/rib.js';
import type { ControlServer } from './control.js';
import { formatTable } from './format.js';

export interface ShowContext {
  readonly stack: Stack;
  readonly lanes: LaneSet;
  readonly ports: () => ReadonlyArray<{ name: string; port: number; kind: string; netns: string | null; attach: string | null }>;
}

export function registerShowCommands(control: ControlServer, ctx: ShowContext): void {
  control.register(['show', 'interfaces'], () => {
    const data = ctx.ports().map((p) => {
      const iface = ctx.stack.interfaces.byPort(p.port)!;
      return {
        name: p.name,
        port: p.port,
        kind: p.kind,
        up: iface.up,
        mtu: iface.mtu,
        mac: iface.mac ? formatMac(iface.mac) : null,
        addresses: iface.addresses.map((a) => ({ address: `${formatIpv6(a.addr)}/${a.prefixLen}`, state: a.state, origin: a.origin })),
        netns: p.netns,
        attach: p.attach,
      };
    });
    const rows = data.map((d) => [d.name, d.kind, d.up ? 'up' : 'down', String(d.mtu), d.mac ?? '-', d.addresses.map((a) => a.address).join(' ')]);
    return { data, text: formatTable(['Interface', 'Kind', 'State', 'MTU', 'MAC', 'Addresses'], rows) };
  });

  control.register(['show', 'routes'], () => {
    const rib = ctx.stack.rib;
    const best = new Set(rib.bestRoutes());
    const blocks = ctx.lanes.counterBlocks();
    // An ECMP member's packet count (FIB groups, stack/rib.ts compile); null when uncounted.
    const packets = (r: RibRoute, n: RibNexthop): number | null => {
      const slot = rib.memberCounterOf(r, n);
      return slot < 0 ? null : sumCounter(blocks, ECMP_MEMBER_BASE + slot);
    };
    const data = rib.all().map((r) => ({
      prefix: `${formatIpv6(r.prefix)}/${r.prefixLen}`,
      origin: r.origin,
      kind: r.kind,
      preference: r.preference,
      metric: r.metric,
      best: best.has(r),
      nexthops: r.nexthops.map((n) => ({
        interface: ctx.stack.interfaces.byPort(n.port)?.name ?? String(n.port),
        gateway: n.gateway ? formatIpv6(n.gateway) : null,
        packets: packets(r, n),
      })),
    }));
    const rows = data.map((r) => [
      (r.best ? '*' : ' ') + ' ' + r.prefix,
      r.origin,
      r.kind === 'unicast'
        ? r.nexthops.map((n) => `${n.gateway ? `via ${n.gateway} dev ${n.interface}` : `dev ${n.interface}`}${n.packets === null ? '' : ` (${n.packets} packets)`}`).join(', ')
        : r.kind,
      `${r.preference}/${r.metric}`,
    ]);
    return { data, text: formatTable(['Prefix', 'Origin', 'Next hop', 'Pref/Metric'], rows) };
  });

  control.register(['show', 'neighbors'], () => {
    const data = ctx.stack.neighbors.entries().map((n) => ({
      interface: ctx.stack.interfaces.byPort(n.port)?.name ?? String(n.port),
      address: formatIpv6(n.addr),
      mac: n.mac ? formatMac(n.mac) : null,
      state: n.state,
      router: n.router,
      expiresInMs: Math.round(n.expiresInMs),
    }));
    const rows = data.map((n) => [n.address, n.interface, n.mac ?? '(incomplete)', n.state, n.router ? 'router' : '']);
    return { data, text: formatTable(['Address', 'Interface', 'MAC', 'State', ''], rows) };
  });

  control.register(['show', 'lanes'], () => {
    const blocks = ctx.lanes.counterBlocks();
    const data = ctx.lanes.status().map((l, i) => ({ ...l, rxPackets: laneTotal(blocks[i]!, 'rx_packets'), forwarded: laneTotal(blocks[i]!, 'forwarded') }));
    const rows = data.map((l) => [
      String(l.lane),
      l.failing ? 'failing' : l.running ? 'running' : 'down',
      String(l.starts),
      `${l.restartReasons.crash}/${l.restartReasons.wedged}`,
      String(l.queues),
      `${l.puntRing}/${ctx.lanes.ringCapacity()}`,
      `${l.injectRing}/${ctx.lanes.ringCapacity()}`,
      String(l.rxPackets),
      String(l.forwarded),
      l.lastError ?? '-',
    ]);
    return {
      data,
      text: formatTable(['Lane', 'State', 'Starts', 'Crashed/Wedged', 'Queues', 'Punt ring', 'Inject ring', 'RX packets', 'Forwarded', 'Last error'], rows),
    };
  });

  control.register(['show', 'counters'], () => {
    const blocks = ctx.lanes.counterBlocks();
    const data = ctx.ports().map((p) => {
      const counters: Record<string, number> = {};
      for (const [i, c] of [...TRAFFIC, ...DROPS].entries()) counters[c.name] = sumCounter(blocks, portCounter(p.port, i));
      return { interface: p.name, counters };
    });
    const stackDrops = { ...ctx.stack.drops };
    const rows: string[][] = [];
    for (const d of data) for (const [k, v] of Object.entries(d.counters)) if (v !== 0) rows.push([d.interface, k, String(v)]);
    for (const [k, v] of Object.entries(stackDrops)) if (v !== 0) rows.push(['control-plane', k, String(v)]);
    return { data: { interfaces: data, controlPlane: stackDrops }, text: formatTable(['Interface', 'Counter', 'Value'], rows) };
  });

  // Test hooks (test 10 of the foundation issue; lane supervision): a lane's thread dies as a
  // crash would, or the lane spins forever for the watchdog to replace.
  for (const [word, act, help] of [
    ['crash-lane', (lane: number) => ctx.lanes.crashLane(lane), 'lane N exits its thread as a crash would (the lane is restarted)'],
    ['wedge-lane', (lane: number) => ctx.lanes.wedgeLane(lane), 'lane N spins forever, until the watchdog replaces it'],
  ] as const) {
    control.register(['debug', word], (req, rest) => {
      // `turtle6ctl debug crash-lane N` sends N as a word; the socket client may send args.lane.
      const lane = Number(rest[0] ?? (req.args as { lane?: unknown } | undefined)?.lane ?? 0);
      const lanes = ctx.lanes.status().length;
      if (!Number.isInteger(lane) || lane < 0 || lane >= lanes) throw new Error(`usage: debug ${word} N (a lane, 0–${lanes - 1})`);
      act(lane);
      return { data: { lane }, text: `debug ${word} ${lane}: done` };
    }, `test hook: ${help}`);
  }
}

function laneTotal(block: Float64Array, name: 'rx_packets' | 'forwarded'): number {
  const index = TRAFFIC.findIndex((c) => c.name === name);
  let total = 0;
  for (let port = 0; port < MAX_PORTS; port++) total += block[portCounter(port, index)]!;
  return total;
}
