/**
 * Static multicast forwarding (the `multicast:` section): the config's routes become the
 * lanes' MFC entries (shm/mfc.ts), the way smcroute turns `mroute` lines into MRT6_ADD_MFC
 * calls. `turtle6ctl show mfc` reads them back with the lanes' counters, like `netstat -g`
 * or pim6stat. The data path does the forwarding; this module only names what it forwards.
 *
 * RPF: a route with `rpf: true` takes its incoming port from the best unicast route toward its
 * source (its first next hop's port), and follows it: a change of the best routes republishes
 * the table (once per turn). With no usable route (none, or a local, reject, blackhole or
 * tunnel one) the entry is left out of the table, and show mfc says so.
 *
 * Counters: every entry counts into a counter slot of the lanes' blocks. A route that a
 * reload keeps keeps its slot and its totals; a slot given to a new route starts from the
 * totals it had then (the lanes' counters only grow).
 */
import { parseIpv6 } from '../../lib/addr.js';
import { MFC_MAX_ENTRIES, type MfcEntry } from '../../shm/mfc.js';
import type { MfcCounters, MulticastDatapath } from '../../shm/datapath.js';
import type { StackApi, Unsubscribe } from '../../stack/stack-api.js';
import type { MulticastConfig, MulticastRouteConfig } from '../../config/sections/multicast.js';
import type { ModuleContext, ModuleStatus, ProtocolModule } from '../module.js';
import { formatRows } from '../table.js';

interface Installed {
  readonly route: MulticastRouteConfig;
  readonly slot: number;
  /** The slot's totals when this route got it. */
  readonly zero: MfcCounters;
}

export interface MfcRow {
  readonly source: string;
  readonly group: string;
  /** The incoming interface; with RPF the one the route toward the source gives, or null with no usable route. */
  readonly in: string | null;
  readonly rpf: boolean;
  readonly out: readonly string[];
  readonly packets: number;
  readonly bytes: number;
  readonly wrongInterface: number;
}

const NONE: MfcCounters = { packets: 0, bytes: 0, wrongPort: 0 };

function routeKey(r: MulticastRouteConfig): string {
  return `${r.source ?? '*'} ${r.group}`;
}

export class MulticastModule implements ProtocolModule<MulticastConfig> {
  readonly name = 'multicast';
  private api: StackApi | null = null;
  private datapath: MulticastDatapath | undefined;
  /** By routeKey. */
  private installed = new Map<string, Installed>();
  private unsubscribe: Unsubscribe | null = null;
  private republishQueued = false;

  start(ctx: ModuleContext, config: MulticastConfig): void {
    this.api = ctx.api;
    this.datapath = ctx.api.multicast;
    if (this.datapath === undefined) ctx.log.warn('this data path forwards no multicast: the multicast routes are not installed');
    ctx.metrics.gauge({ name: 'mfc_entries', help: 'Entries in the multicast forwarding cache (static multicast routes)' }, (emit) => emit({}, this.installed.size));
    // Labels are bounded: the entries come from the config (at most MFC_MAX_ENTRIES).
    const perEntry = (name: string, help: string, field: keyof Pick<MfcRow, 'packets' | 'bytes' | 'wrongInterface'>) =>
      ctx.metrics.counter({ name, help, labelNames: ['source', 'group'] }, (emit) => {
        for (const row of this.rows()) emit({ source: row.source, group: row.group }, row[field]);
      });
    perEntry('mfc_packets_total', 'Multicast packets forwarded by an MFC entry (source "*" for (*,G))', 'packets');
    perEntry('mfc_bytes_total', 'Bytes of the multicast packets forwarded by an MFC entry', 'bytes');
    perEntry('mfc_wrong_interface_total', 'Packets that matched an MFC entry but arrived on another interface than its incoming one', 'wrongInterface');
    ctx.commands.register(['show', 'mfc'], () => this.status(), 'The multicast forwarding cache with its counters (like netstat -g, pim6stat)');
    this.apply(config);
    this.unsubscribe = ctx.api.onBestRouteChange(() => this.routesChanged());
  }

  prepareReconfigure(next: MulticastConfig): () => void {
    return () => this.apply(next);
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.installed.clear();
    this.datapath?.publishMfc([]);
  }

  status(): ModuleStatus {
    const rows = this.rows();
    const text = formatRows(
      ['source', 'group', 'in', 'out', 'packets', 'bytes', 'wrong-if'],
      rows.map((r) => ({ ...r, in: r.rpf ? `rpf:${r.in ?? 'no-route'}` : r.in, out: r.out.join(','), 'wrong-if': r.wrongInterface })),
    );
    return { data: { entries: rows }, text: `${text}\n` };
  }

  private rows(): MfcRow[] {
    return [...this.installed.values()].map(({ route, slot, zero }) => {
      const now = this.datapath?.mfcCounters(slot) ?? NONE;
      return {
        source: route.source ?? '*',
        group: route.group,
        in: route.in ?? this.rpfInterface(route),
        rpf: route.in === null,
        out: route.out,
        packets: now.packets - zero.packets,
        bytes: now.bytes - zero.bytes,
        wrongInterface: now.wrongPort - zero.wrongPort,
      };
    });
  }

  /** Installs `config`'s routes: kept ones keep their counter slot, new ones take a free one. */
  private apply(config: MulticastConfig): void {
    const next = new Map<string, Installed>();
    const used = new Set<number>();
    for (const route of config.routes) {
      const kept = this.installed.get(routeKey(route));
      if (kept === undefined) continue;
      next.set(routeKey(route), { ...kept, route });
      used.add(kept.slot);
    }
    let free = 0;
    for (const route of config.routes) {
      if (next.has(routeKey(route))) continue;
      while (used.has(free)) free++;
      if (free >= MFC_MAX_ENTRIES) throw new RangeError(`more than ${MFC_MAX_ENTRIES} multicast routes`);
      used.add(free);
      next.set(routeKey(route), { route, slot: free, zero: this.datapath?.mfcCounters(free) ?? NONE });
    }
    // In config order, so show mfc lists them as written.
    this.installed = new Map(config.routes.map((r) => [routeKey(r), next.get(routeKey(r))!]));
    this.publish();
  }

  private publish(): void {
    const entries: MfcEntry[] = [];
    for (const i of this.installed.values()) {
      const e = this.entry(i);
      if (e !== null) entries.push(e);
    }
    this.datapath?.publishMfc(entries);
  }

  /** Best routes changed: RPF entries may have another incoming port (coalesced per turn). */
  private routesChanged(): void {
    if (this.republishQueued || ![...this.installed.values()].some((i) => i.route.in === null)) return;
    this.republishQueued = true;
    queueMicrotask(() => {
      this.republishQueued = false;
      if (this.unsubscribe !== null) this.publish();
    });
  }

  /** The port of the best unicast route toward the route's source, or undefined with none usable. */
  private rpfPort(route: MulticastRouteConfig): number | undefined {
    const best = this.api!.bestRouteFor?.(parseIpv6(route.source!)!);
    return best?.kind === 'unicast' ? best.nexthops[0]?.port : undefined;
  }

  private rpfInterface(route: MulticastRouteConfig): string | null {
    const port = this.rpfPort(route);
    return this.api!.interfaces().find((i) => i.port === port)?.name ?? null;
  }

  /** The route's MFC entry, or null when RPF finds no incoming port for it. */
  private entry({ route, slot }: Installed): MfcEntry | null {
    const ports = new Map(this.api!.interfaces().map((i) => [i.name, i.port]));
    // The config's cross-check names only configured interfaces, which the stack has.
    const port = (name: string) => {
      const p = ports.get(name);
      if (p === undefined) throw new RangeError(`multicast route names ${name}, which is not an interface`);
      return p;
    };
    const inPort = route.in === null ? this.rpfPort(route) : port(route.in);
    if (inPort === undefined) return null;
    return {
      source: route.source === null ? null : parseIpv6(route.source),
      group: parseIpv6(route.group)!,
      inPort,
      outPorts: route.out.map(port),
      counter: slot,
    };
  }
}
