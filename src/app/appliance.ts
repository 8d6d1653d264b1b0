/**
 * The composition root: turns a validated Config into a running router. It opens the
 * TAP/TUN ports (one queue per lane), starts the lanes and the stack, moves or attaches the
 * ports' kernel sides, and serves metrics and the control socket. Nothing below src/app
 * knows about more than its own layer; this file is where they meet.
 */
import { SystemClock } from '../lib/clock.js';
import { mathRng } from '../lib/rng.js';
import { spawnSync } from 'node:child_process';
import { parseIpv6, parseMac, parsePrefix, formatIpv6, formatMac } from '../lib/addr.js';
import type { Config, InterfaceConfig } from '../config/schema.js';
import { createRootLogger, moduleLogger, type Logger } from '../observability/log.js';
import { Metrics, startMetricsServer, type MetricsServer } from '../observability/metrics.js';
import { LaneSet } from '../dataplane/lanes.js';
import { openTunTap, closeTunTap, setMac, setMtu, setUp, moveToNetns, attachToKernelInterface, detachFromKernelInterface, type TunTap } from '../io/tuntap.js';
import { Stack, type StackInterfaceConfig } from '../stack/stack.js';
import type { RaConfig as StackRaConfig } from '../stack/ra.js';
import { EchoResponder } from '../protocols/echo/echo.js';
import { ControlServer } from './control.js';
import { registerDataplaneMetrics } from './dataplane-metrics.js';
import { registerShowCommands } from './show.js';

export interface RunOptions {
  readonly configPath: string;
}

interface OpenPort {
  readonly cfg: InterfaceConfig;
  readonly port: number;
  readonly dev: TunTap;
}

export class Appliance {
  private readonly ports: OpenPort[] = [];
  private lanes!: LaneSet;
  stack!: Stack;
  private readonly echo = new EchoResponder();
  private metricsServer: MetricsServer | null = null;
  private control: ControlServer | null = null;
  readonly metrics = new Metrics();
  private readonly log: Logger;

  private constructor(private config: Config, readonly root: Logger) {
    this.log = moduleLogger(root, 'appliance');
  }

  static async start(config: Config, root: Logger): Promise<Appliance> {
    const app = new Appliance(config, root);
    try {
      await app.bringUp();
    } catch (e) {
      await app.stop();
      throw e;
    }
    return app;
  }

  private async bringUp(): Promise<void> {
    const cfg = this.config;
    const dp = cfg.dataplane;
    const laneLog = moduleLogger(this.root, 'lanes');
    this.lanes = new LaneSet(
      {
        lanes: dp.lanes,
        batch: dp.batch,
        poolSlots: dp.poolSlots,
        ringCapacity: 1024,
        io: dp.io,
        icmpRate: dp.icmpErrors.rate,
        icmpBurst: dp.icmpErrors.burst,
      },
      {
        laneDied: (lane, error) => laneLog.error({ lane, err: String(error) }, lane < 0 ? 'punt handler failed' : 'lane died; restarting it'),
      },
    );

    // Ports: one multi-queue device per interface, one queue per lane (DESIGN.md).
    cfg.interfaces.forEach((iface, port) => {
      const dev = openTunTap({ name: iface.name, kind: iface.kind, queues: dp.lanes });
      this.ports.push({ cfg: iface, port, dev });
      if (iface.kind === 'tap' && iface.attach === null) {
        // The kernel side of the TAP is the neighbour's NIC: give it a MAC of its own,
        // distinct from the router port's (which lives only in turtle6).
        setMac(dev.name, formatMac(peerMac(parseMac(iface.mac!)!)));
      }
      setMtu(dev.name, iface.mtu);
      dev.fds.forEach((fd, lane) => this.lanes.addQueue(lane, port, fd));
    });

    this.stack = new Stack({
      clock: new SystemClock(),
      rng: mathRng,
      datapath: this.lanes,
      log: moduleLogger(this.root, 'stack'),
    });
    for (const { cfg: iface, port } of this.ports) this.stack.addInterface(stackInterface(iface, port));
    for (const r of cfg.routes) this.stack.addRoute(staticRoute(r, this.stack));

    this.stack.publishTables();
    this.lanes.start();
    await this.lanes.ready();

    // After every lane holds its queue, hand the kernel side to its namespace or NIC.
    for (const { cfg: iface, dev } of this.ports) {
      if (iface.netns !== null) {
        moveToNetns(dev.name, iface.netns);
        setUp(dev.name, { netns: iface.netns });
      } else if (iface.attach !== null) {
        // The kernel must stay silent on a glued TAP: turtle6 is the only IPv6 node on it.
        disableKernelIpv6(dev.name);
        setUp(dev.name);
        attachToKernelInterface(dev.name, iface.attach);
      } else {
        setUp(dev.name);
      }
    }

    this.stack.start();
    this.echo.start(this.stack.api('echo'), { enabled: true });
    registerDataplaneMetrics(this.metrics, this.lanes, this.stack, () => this.ports.map((p) => ({ name: p.cfg.name, port: p.port })));
    if (cfg.metrics.listen !== '') {
      this.metricsServer = await startMetricsServer(cfg.metrics.listen, this.metrics.registry);
      this.log.info({ listen: cfg.metrics.listen }, 'metrics served on /metrics');
    }
    this.control = new ControlServer(cfg.control.socket);
    registerShowCommands(this.control, { stack: this.stack, lanes: this.lanes, ports: () => this.ports.map((p) => ({ name: p.cfg.name, port: p.port, kind: p.cfg.kind, netns: p.cfg.netns, attach: p.cfg.attach })) });
    await this.control.listen();
    this.log.info({ ports: this.ports.length, lanes: dp.lanes, socket: cfg.control.socket }, 'turtle6 is up');
  }

  async stop(): Promise<void> {
    this.echo.stop();
    this.stack?.stop();
    await this.control?.close();
    await this.metricsServer?.close();
    await this.lanes?.stop();
    for (const { cfg: iface, dev } of this.ports) {
      if (iface.attach !== null) {
        try {
          detachFromKernelInterface(dev.name, iface.attach);
        } catch (e) {
          this.log.warn({ ifname: dev.name, err: String(e) }, 'could not remove the tc glue');
        }
      }
      closeTunTap(dev);
    }
    this.log.info({}, 'turtle6 stopped');
  }
}

/** Keeps the kernel from running IPv6 (RS, DAD, MLD) on a device turtle6 owns. */
function disableKernelIpv6(ifname: string): void {
  const r = spawnSync('sysctl', ['-qw', `net.ipv6.conf.${ifname}.disable_ipv6=1`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sysctl disable_ipv6 on ${ifname} failed: ${r.stderr}`);
}

/** The neighbour's end of a TAP gets the router port's MAC with the last byte flipped. */
function peerMac(mac: Uint8Array): Uint8Array {
  const out = Uint8Array.from(mac);
  out[5] = out[5]! ^ 0xff;
  return out;
}

function stackInterface(iface: InterfaceConfig, port: number): StackInterfaceConfig {
  const addresses = iface.addresses.map((a) => {
    const [text, len] = a.split('/');
    return { addr: parseIpv6(text!)!, prefixLen: Number(len) };
  });
  return {
    name: iface.name,
    port,
    kind: iface.kind,
    mac: iface.mac === null ? null : parseMac(iface.mac)!,
    mtu: iface.mtu,
    addresses: addresses.filter((a) => !(a.addr[0] === 0xfe && (a.addr[1]! & 0xc0) === 0x80)),
    ra: iface.ra.enabled ? raConfig(iface.ra, iface.mtu) : null,
  };
}

function raConfig(ra: InterfaceConfig['ra'], _mtu: number): StackRaConfig {
  return {
    enabled: true,
    maxInterval: ra.maxInterval,
    minInterval: ra.minInterval,
    defaultLifetime: ra.defaultLifetime,
    hopLimit: ra.hopLimit,
    managed: ra.managed,
    other: ra.other,
    mtu: ra.mtu,
    reachableTime: ra.reachableTime,
    retransTimer: ra.retransTimer,
    prefixes: ra.prefixes.map((p) => {
      const prefix = parsePrefix(p.prefix)!;
      return {
        prefix: prefix.addr,
        prefixLen: prefix.len,
        onLink: p.onLink,
        autonomous: p.autonomous,
        validLifetime: p.validLifetime,
        preferredLifetime: p.preferredLifetime,
      };
    }),
    ...(ra.rdnss ? { rdnss: { servers: ra.rdnss.servers.map((s) => parseIpv6(s)!), lifetime: ra.rdnss.lifetime } } : {}),
    ...(ra.dnssl ? { dnssl: { domains: ra.dnssl.domains, lifetime: ra.dnssl.lifetime } } : {}),
  };
}

function staticRoute(r: Config['routes'][number], stack: Stack) {
  const prefix = parsePrefix(r.prefix)!;
  const kind = r.reject ? 'reject' : r.blackhole ? 'blackhole' : 'unicast';
  const via = r.via === null ? null : parseIpv6(r.via)!;
  let port = r.interface === null ? -1 : stack.interfaces.byName(r.interface)!.port;
  if (port < 0 && via !== null) {
    // A global next hop without an interface: the interface whose prefix holds it (on-link).
    const onLink = stack.rib.lookup(via);
    port = onLink?.nexthops[0]?.port ?? -1;
    if (port < 0) throw new Error(`route ${r.prefix}: next hop ${formatIpv6(via)} is not on any connected prefix`);
  }
  return {
    prefix: prefix.addr,
    prefixLen: prefix.len,
    origin: 'static' as const,
    preference: r.preference,
    metric: 0,
    kind: kind as 'reject' | 'blackhole' | 'unicast',
    nexthops: kind === 'unicast' ? [{ port, gateway: via }] : [],
  };
}

export async function runAppliance(config: Config, _opts: RunOptions): Promise<void> {
  const root = createRootLogger({ level: config.log.level });
  let app: Appliance;
  try {
    app = await Appliance.start(config, root);
  } catch (e) {
    root.fatal({ err: e instanceof Error ? e.message : String(e) }, 'turtle6 could not start');
    process.exitCode = 1;
    return;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      root.info({ signal }, 'shutting down');
      void app.stop().finally(resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
