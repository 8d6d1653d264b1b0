/**
 * The composition root: turns a validated Config into a running router. It opens the
 * TAP/TUN ports (one queue per lane), starts the lanes and the stack, moves or attaches the
 * ports' kernel sides, and serves metrics and the control socket. Nothing below src/app
 * knows about more than its own layer; this file is where they meet.
 */
import { SystemClock } from '../lib/clock.js';
import { mathRng } from '../lib/rng.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseMac, formatMac } from '../lib/addr.js';
import type { Config, InterfaceConfig } from '../config/schema.js';
import { formatConfigError } from '../config/load.js';
import { loadConfigFileOffThread } from '../config/load-off-thread.js';
import { renderReloadReport, runReload, type ReloadReport } from '../config/reload.js';
import { wipeReplacedSecrets, wipeSecrets } from '../config/secrets.js';
import { createRootLogger, moduleLogger, RateLimitedLog, type Logger } from '../observability/log.js';
import { Metrics, startMetricsServer, type MetricsServer } from '../observability/metrics.js';
import { LaneSet } from '../dataplane/lanes.js';
import { RESTART_MAX_MS } from '../dataplane/lane-supervision.js';
import { slotBytesForMtu } from '../shm/pool.js';
import { MAX_PORTS } from '../shm/port-table.js';
import { openTunTap, closeTunTap, setMac, setMtu, setUp, setNoKernelIpv6Addresses, moveToNetns, attachToKernelInterface, detachFromKernelInterface, type TunTap } from '../io/tuntap.js';
import { Stack } from '../stack/stack.js';
import { ControlServer, registerConfigCommands } from './control.js';
import { reloadParticipants, stackInterface, staticRoutes } from './reload-participants.js';
import { registerDataplaneMetrics } from './dataplane-metrics.js';
import { registerShowCommands } from './show.js';
import { registerTraceCommand } from './trace-command.js';
import { HostPort } from './host-port.js';
import { ModuleHost } from './module-host.js';
import { MODULES } from './modules.js';
import { monotonicUsec, sdNotify } from './sd-notify.js';

export interface RunOptions {
  readonly configPath: string;
}

interface OpenPort {
  readonly cfg: InterfaceConfig;
  readonly port: number;
  readonly dev: TunTap;
  /** An attached NIC whose kernel IPv6 turtle6 switched off, to switch back on at stop. */
  restoreNicIpv6?: boolean;
}

export class Appliance {
  private readonly ports: OpenPort[] = [];
  /** Port indices never given out yet, lowest first; then released ones, oldest first. */
  private nextFreshPort = 0;
  private readonly releasedPorts: number[] = [];
  private reloadQueue: Promise<unknown> = Promise.resolve();
  private lanes!: LaneSet;
  /** The largest port MTU at start: the lanes' slots are sized for it (shm/pool.ts). */
  private largestMtu = 1500;
  stack!: Stack;
  private modules: ModuleHost | null = null;
  private host: HostPort | null = null;
  private metricsServer: MetricsServer | null = null;
  private control: ControlServer | null = null;
  readonly metrics = new Metrics();
  /** Reloads by outcome, and whether the latest one applied (true until one is refused). */
  private readonly reloads = { success: 0, failure: 0, lastOk: true };
  private readonly log: Logger;
  private readonly limitedLog: RateLimitedLog;

  private constructor(private config: Config, readonly root: Logger, private readonly configPath: string) {
    this.log = moduleLogger(root, 'appliance');
    this.limitedLog = new RateLimitedLog(moduleLogger(root, 'stack'), config.log.ratePerKind, new SystemClock());
  }

  static async start(config: Config, root: Logger, configPath: string): Promise<Appliance> {
    const app = new Appliance(config, root, configPath);
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
    this.largestMtu = Math.max(1500, ...cfg.interfaces.map((i) => i.mtu));
    this.lanes = new LaneSet(
      {
        lanes: dp.lanes,
        batch: dp.batch,
        poolSlots: dp.poolSlots,
        slotBytes: slotBytesForMtu(this.largestMtu),
        ringCapacity: 1024,
        io: dp.io,
        icmpRate: dp.icmpErrors.rate,
        icmpBurst: dp.icmpErrors.burst,
        puntPolicing: dp.puntPolicing,
        ...(dp.ecmpSeed === undefined ? {} : { flowSeed: dp.ecmpSeed }),
      },
      {
        laneDied: (lane, error, death) => laneLog.error({ lane, err: String(error), ...death }, lane < 0 ? 'punt handler failed' : 'lane died; restarting it'),
        laneFailing: (lane, deaths, lastError) =>
          laneLog.error({ lane, deaths, lastError }, `lane ${lane} keeps dying (${deaths} times in a row, each soon after its start); restarting it with up to ${RESTART_MAX_MS / 1000} s between tries`),
      },
    );

    // Ports: one multi-queue device per interface, one queue per lane (DESIGN.md).
    for (const iface of cfg.interfaces) {
      const open = this.openDevice(iface, this.allocPort()!);
      this.ports.push(open);
      await this.lanes.setPortQueues(open.port, open.dev.fds);
    }
    if (dp.hostInterface) {
      // One queue, on lane 0: the lane the control plane injects through.
      this.host = HostPort.open(this.allocPort()!);
      await this.lanes.setPortQueues(this.host.port, [this.host.dev.fds[0]!]);
    }

    this.stack = new Stack({
      clock: new SystemClock(),
      rng: mathRng,
      datapath: this.lanes,
      log: moduleLogger(this.root, 'stack'),
      limited: (kind) => this.limitedLog.limited(kind),
      ...(this.host ? { hostPort: this.host.port } : {}),
      nd: {
        reachableTimeMs: cfg.nd.reachableTime,
        retransTimerMs: cfg.nd.retransTimer,
        delayFirstProbeMs: cfg.nd.delayFirstProbe,
        maxMulticastSolicit: cfg.nd.maxMulticastSolicit,
        maxUnicastSolicit: cfg.nd.maxUnicastSolicit,
        queueLimit: cfg.nd.queueLimit,
        maxIncomplete: cfg.nd.maxIncomplete,
      },
    });
    for (const { cfg: iface, port } of this.ports) this.stack.addInterface(stackInterface(iface, port));
    if (this.host) {
      const mtu = Math.max(...cfg.interfaces.map((i) => i.mtu));
      this.stack.addInterface({ name: this.host.dev.name, port: this.host.port, kind: 'tun', mac: null, mtu, addresses: [], ra: null });
    }
    for (const r of staticRoutes(cfg, (name) => this.portOf(name))) this.stack.addRoute(r);

    this.stack.publishTables();
    this.lanes.start();
    await this.lanes.ready();

    // After every lane holds its queue, hand the kernel side to its namespace or NIC.
    for (const open of this.ports) this.connectKernelSide(open);

    if (this.host) {
      const host = this.host;
      host.bringUp();
      const sync = () => host.syncAddresses(this.stack.routerAddresses());
      sync();
      this.stack.interfaces.on('address-added', sync);
      this.stack.interfaces.on('address-removed', sync);
    }
    this.stack.start();
    registerDataplaneMetrics(this.metrics, this.lanes, this.stack, () => this.ports.map((p) => ({ name: p.cfg.name, port: p.port })));
    this.registerReloadMetrics();
    await this.restartMetrics(cfg.metrics.listen);
    this.control = new ControlServer(cfg.control.socket);
    registerShowCommands(this.control, { stack: this.stack, lanes: this.lanes, ports: () => this.ports.map((p) => ({ name: p.cfg.name, port: p.port, kind: p.cfg.kind, netns: p.cfg.netns, attach: p.cfg.attach })) });
    this.modules = new ModuleHost(MODULES, this.stack, this.root, this.limitedLog, this.metrics, this.control, cfg.stateDir);
    await this.modules.startAll(cfg);
    registerConfigCommands(this.control, () => this.config);
    registerTraceCommand(this.control, this.lanes, {
      byName: (name) => {
        const p = this.ports.find((x) => x.cfg.name === name);
        return p && { port: p.port, kind: p.cfg.kind };
      },
      byPort: (port) => {
        const p = this.ports.find((x) => x.port === port);
        return p && { name: p.cfg.name, kind: p.cfg.kind };
      },
    });
    this.control.register(['reload'], async () => {
      const report = await this.reload();
      return { data: report, text: renderReloadReport(report) };
    }, 'reload the config file: validate, prepare, apply — or change nothing');
    await this.control.listen();
    this.log.info({ ports: this.ports.length, lanes: dp.lanes, socket: cfg.control.socket }, 'turtle6 is up');
  }

  /** The next port index: one never used, else the one released longest ago (a quarantine: see closePort). */
  private allocPort(): number | null {
    if (this.nextFreshPort < MAX_PORTS) return this.nextFreshPort++;
    return this.releasedPorts.shift() ?? null;
  }

  private portOf(name: string): number {
    const open = this.ports.find((p) => p.cfg.name === name);
    if (open === undefined) throw new RangeError(`no port ${name}`);
    return open.port;
  }

  /** Opens a port's multi-queue TAP/TUN (one queue per lane) with its MAC and MTU. */
  private openDevice(iface: InterfaceConfig, port: number): OpenPort {
    const dev = openTunTap({ name: iface.name, kind: iface.kind, queues: this.config.dataplane.lanes });
    try {
      if (iface.kind === 'tap' && iface.attach === null) {
        // The kernel side of the TAP is the neighbour's NIC: give it a MAC of its own,
        // distinct from the router port's (which lives only in turtle6).
        setMac(dev.name, formatMac(peerMac(parseMac(iface.mac!)!)));
      }
      setMtu(dev.name, iface.mtu);
    } catch (e) {
      closeTunTap(dev);
      throw e;
    }
    return { cfg: iface, port, dev };
  }

  /** Hands a port's kernel side to its namespace or NIC, once every lane holds its queue. */
  private connectKernelSide(open: OpenPort): void {
    const { cfg: iface, dev } = open;
    if (iface.netns !== null) {
      moveToNetns(dev.name, iface.netns);
      setUp(dev.name, { netns: iface.netns });
    } else if (iface.attach !== null) {
      // turtle6 is the only IPv6 node on an attached link: the kernel must stay silent on
      // the glued TAP and on the NIC itself (its RS, DAD and MLD would leak onto the link).
      try {
        setKernelIpv6Disabled(dev.name, true);
      } catch (e) {
        setNoKernelIpv6Addresses(dev.name);
        this.log.warn({ ifname: dev.name, err: String(e) }, 'read-only /proc/sys: the kernel gets no IPv6 address on the TAP instead (addrgenmode none)');
      }
      setUp(dev.name);
      setUp(iface.attach);
      try {
        if (!kernelIpv6Disabled(iface.attach)) {
          setKernelIpv6Disabled(iface.attach, true);
          open.restoreNicIpv6 = true;
        }
      } catch (e) {
        this.log.warn({ ifname: iface.attach, err: String(e) }, 'could not disable the kernel IPv6 on the attached interface (read-only /proc/sys?)');
      }
      attachToKernelInterface(dev.name, iface.attach);
    } else {
      setUp(dev.name);
    }
  }

  /** Undoes the tc glue and the NIC's IPv6 switch of an attached port, then closes its queues. */
  private closeDevice(open: OpenPort): void {
    const { cfg: iface, dev, restoreNicIpv6 } = open;
    if (iface.attach !== null) {
      try {
        detachFromKernelInterface(dev.name, iface.attach);
      } catch (e) {
        this.log.warn({ ifname: dev.name, err: String(e) }, 'could not remove the tc glue');
      }
      if (restoreNicIpv6) {
        try {
          setKernelIpv6Disabled(iface.attach, false);
        } catch (e) {
          this.log.warn({ ifname: iface.attach, err: String(e) }, 'could not switch the kernel IPv6 on the attached interface back on');
        }
      }
    }
    closeTunTap(dev);
  }

  /**
   * Opens a port while the lanes run (a reload added it, or restarts it): its counters start
   * at zero, every lane takes its queue between two batches, the stack gets its interface,
   * the kernel side goes to its namespace or NIC, then RAs and DAD start on it.
   */
  private async openPort(iface: InterfaceConfig, port: number): Promise<void> {
    const open = this.openDevice(iface, port);
    try {
      this.lanes.resetPortCounters(port);
      await this.lanes.setPortQueues(port, open.dev.fds);
      this.stack.addInterface(stackInterface(iface, port));
    } catch (e) {
      await this.lanes.setPortQueues(port, null);
      this.closeDevice(open);
      this.releasedPorts.push(port);
      throw e;
    }
    this.ports.push(open);
    try {
      this.connectKernelSide(open);
    } catch (e) {
      await this.closePort(iface.name);
      throw e;
    }
    this.stack.startInterface(port);
    this.log.info({ ifname: iface.name, port }, 'port opened');
  }

  /**
   * Closes a running port: the stack lets go of it first (final RA, routes through it
   * withdrawn, the lanes' next tables without it), then every lane closes its queue between
   * two batches, and only then are its fds closed. Its index is not given out again before
   * every other free index was (allocPort): a lane still on an older table generation never
   * writes to a port reusing it.
   */
  private async closePort(name: string): Promise<void> {
    const open = this.ports.find((p) => p.cfg.name === name);
    if (open === undefined) throw new RangeError(`no port ${name}`);
    this.stack.removeInterface(open.port);
    await this.lanes.setPortQueues(open.port, null);
    this.ports.splice(this.ports.indexOf(open), 1);
    this.closeDevice(open);
    this.releasedPorts.push(open.port);
    this.log.info({ ifname: name, port: open.port }, 'port closed');
  }

  async restartMetrics(listen: string): Promise<void> {
    await this.metricsServer?.close();
    this.metricsServer = null;
    if (listen === '') return;
    this.metricsServer = await startMetricsServer(listen, this.metrics.registry);
    this.log.info({ listen }, 'metrics served on /metrics');
  }

  /**
   * Reloads the config file as a transaction (SIGHUP, `turtle6ctl reload`): a file that does
   * not validate, or a change a module refuses, leaves the running config untouched.
   * Forwarding never stops: lanes keep reading their current table snapshots until the
   * stack publishes the next ones.
   */
  reload(): Promise<ReloadReport> {
    // One at a time: a SIGHUP during `turtle6ctl reload` waits, and then prepares against
    // the config the first one left (opening and closing ports takes a while).
    const run = this.reloadQueue.then(() => this.reloadOnce());
    this.reloadQueue = run.catch(() => {});
    return run;
  }

  private async reloadOnce(): Promise<ReloadReport> {
    const loaded = await loadConfigFileOffThread(this.configPath);
    if (!loaded.ok) {
      const error = loaded.errors.map(formatConfigError).join('\n');
      // The errors go in the log too: after a SIGHUP it is the only place they show.
      this.log.warn({ errors: loaded.errors.length, error }, 'reload refused: the config file has errors');
      this.countReload(false);
      return { ok: false, stage: 'prepare', participant: 'config', error, applied: [], aborted: [], abortErrors: [] };
    }
    const { participants, reopened } = reloadParticipants({
      stack: this.stack,
      root: this.root,
      setIcmpLimits: (rate, burst) => this.lanes.setIcmpLimits(rate, burst),
      setPuntPolicing: (policing) => this.lanes.setPuntPolicing(policing),
      setLogRate: (rate) => this.limitedLog.reconfigure(rate),
      deviceOf: (name) => this.ports.find((p) => p.cfg.name === name)!.dev.name,
      largestMtu: this.largestMtu,
      portOf: (name) => this.portOf(name),
      reservePort: () => this.allocPort(),
      unreservePort: (port) => this.releasedPorts.unshift(port),
      openPort: (iface, port) => this.openPort(iface, port),
      closePort: (name) => this.closePort(name),
      restartMetrics: (listen) => this.restartMetrics(listen),
    });
    // After the ports: a module on a port opened by this reload finds it there.
    if (this.modules) participants.push(this.modules.participant(reopened));
    const report = await runReload(participants, this.config, loaded.config);
    if (report.ok) {
      // Keys that left the config are zeroed; an apply that failed half way zeroes nothing.
      wipeReplacedSecrets(this.config, loaded.config);
      this.config = loaded.config;
      this.log.info({ changes: report.changes.length }, 'config reloaded');
    } else {
      if (report.stage === 'prepare') wipeSecrets(loaded.config);
      this.log.warn({ stage: report.stage, participant: report.participant, error: report.error }, 'reload refused');
    }
    this.countReload(report.ok);
    return report;
  }

  private countReload(ok: boolean): void {
    this.reloads[ok ? 'success' : 'failure']++;
    this.reloads.lastOk = ok;
  }

  /**
   * A refused reload leaves the old config running, which only the log says after a SIGHUP:
   * these series let an alert say it too (as Prometheus's own config_last_reload_successful).
   */
  private registerReloadMetrics(): void {
    this.metrics.counter({ name: 'config_reloads_total', help: 'Config reloads (SIGHUP, turtle6ctl reload) by result: success (applied, or nothing to change) or failure (refused; the running config stays)', labelNames: ['result'] }, (emit) => {
      emit({ result: 'success' }, this.reloads.success);
      emit({ result: 'failure' }, this.reloads.failure);
    });
    this.metrics.gauge({ name: 'config_last_reload_successful', help: '0 after a refused reload, until one succeeds; 1 otherwise (also before any reload)' }, (emit) => emit({}, this.reloads.lastOk ? 1 : 0));
  }

  async stop(): Promise<void> {
    await this.modules?.stopAll();
    this.stack?.stop();
    await this.control?.close();
    await this.metricsServer?.close();
    await this.lanes?.stop();
    for (const open of this.ports) this.closeDevice(open);
    this.host?.close();
    this.log.info({}, 'turtle6 stopped');
  }
}

/**
 * The kernel's IPv6 switch of one device (RS, DAD, MLD on a device turtle6 owns), through
 * /proc/sys: sysctl(8) would read the dot of a VLAN device like eth0.100 as a separator.
 */
function ipv6SwitchPath(ifname: string): string {
  return `/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`;
}

function kernelIpv6Disabled(ifname: string): boolean {
  return readFileSync(ipv6SwitchPath(ifname), 'utf8').trim() === '1';
}

function setKernelIpv6Disabled(ifname: string, disabled: boolean): void {
  writeFileSync(ipv6SwitchPath(ifname), disabled ? '1' : '0');
}

/** The neighbour's end of a TAP gets the router port's MAC with the last byte flipped. */
function peerMac(mac: Uint8Array): Uint8Array {
  const out = Uint8Array.from(mac);
  out[5] = out[5]! ^ 0xff;
  return out;
}

export async function runAppliance(config: Config, opts: RunOptions): Promise<void> {
  const root = createRootLogger({ level: config.log.level });
  let app: Appliance;
  try {
    app = await Appliance.start(config, root, opts.configPath);
  } catch (e) {
    root.fatal({ err: e instanceof Error ? e.message : String(e) }, 'turtle6 could not start');
    process.exitCode = 1;
    return;
  }
  // Under systemd (Type=notify, examples/turtle6.service): up only now, with every port,
  // lane and the control socket ready. A failed notification is logged, never fatal.
  const notify = (state: string) => {
    try {
      sdNotify(state);
    } catch (e) {
      root.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not notify systemd');
    }
  };
  notify('READY=1\nSTATUS=forwarding');
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      root.info({ signal }, 'shutting down');
      notify('STOPPING=1');
      void app.stop().finally(resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => {
      notify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
      void app.reload().finally(() => notify('READY=1\nSTATUS=forwarding'));
    });
  });
}
