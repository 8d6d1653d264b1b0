/**
 * `turtle6 lab`: the embedded demo lab (what `npm start` runs). It builds two turtle6 routers
 * and three kernel hosts in network namespaces, needing only the project and iproute2:
 *
 *   t6-h1 ── lan0 ┐                                   ┌ svc0 ── t6-h0
 *   2001:db8:1::/64├ r1 (t6-r1) ── wan0 ═══ down0 ── r0 (t6-r0)  2001:db8:100::/64
 *   t6-h2 ── lan1 ┘       2001:db8:ff::2/64    ::1/64
 *   2001:db8:2::/64
 *
 * Every host port is a TAP of a router whose kernel side was moved into the host's namespace
 * (`netns:`). The link between the routers is r1's `wan0` TAP, moved into t6-r0, where r0
 * glues its own `down0` TAP to it with tc (`attach: wan0`): a TAP's kernel side lives in one
 * namespace only, so one router's port becomes the other's "NIC". The routers learn each
 * other's LANs by RIPng (RFC 2080) on that link, and r1 its default route from r0's RAs there; the LAN ports are passive (their prefixes
 * are advertised, but nothing is sent to the hosts), and `up` waits, bounded, until both
 * routers hold the other's prefixes before it pings.
 *
 * r0 is also r1's ISP: its DHCPv6 server delegates a /56 of 2001:db8:f000::/48 on `down0`
 * (RFC 8415 §6.3), r1's client on `wan0` asks for it and numbers lan0 and lan1 from it
 * (sub-prefix IDs 1 and 2, as WIDE's `sla-id`), announcing both /64s in its RAs, so each
 * host on r1 forms a second SLAAC address from the delegated prefix. r0 routes the /56 to r1
 * (the server installs that route with the lease), so those addresses reach t6-h0 too.
 *
 * The configs, logs and the record of what was built (state.json: namespaces and PIDs) are
 * kept in the run directory, so a user can read them and `down` can remove exactly what `up`
 * made, also after an `up` that failed or was killed part-way. `up` itself rolls back when
 * one of its steps fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatPrefix, parseIpv6, parsePrefix, prefixContains } from '../lib/addr.js';
import { ControlClient } from './control.js';

export type LabAction = 'up' | 'down' | 'status';

export interface LabOptions {
  /**
   * `up` only: leave the lab running in the background and return once it is built.
   * Defaults to the environment variable TURTLE6_LAB_DETACH=1, because the CLI's `lab`
   * command takes no options yet.
   */
  readonly detach?: boolean;
  /** Where configs, logs and state.json go; default TURTLE6_LAB_DIR or /run/turtle6-lab. */
  readonly runDir?: string;
}

type RouterRole = 'r0' | 'r1';

interface LabProcess {
  readonly role: RouterRole;
  readonly pid: number;
  /** The config path on the process's command line: proves a PID still belongs to the lab. */
  readonly config: string;
}

interface RunningRouter {
  readonly role: RouterRole;
  readonly child: ChildProcess;
}

/** What each router must learn by RIPng before the lab is converged: the other router's LANs. */
const RIPNG_EXPECTED: Record<RouterRole, readonly string[]> = {
  r1: ['2001:db8:100::/64'],
  r0: ['2001:db8:1::/64', '2001:db8:2::/64'],
};
/**
 * Both routers ask for each other's tables when they start (RFC 2080 §2.4.1) and send a
 * triggered update on every change, so this takes a second or two; the bound covers a lost
 * first exchange, repaired by the next periodic update (30 s, jittered up to 45 s).
 */
const RIPNG_CONVERGENCE_MS = 60_000;

/** r0's prefix pool on down0, and the length of each prefix it hands out. */
const DELEGATION_POOL = '2001:db8:f000::/48';
const DELEGATED_LENGTH = 56;
/**
 * r1's client waits up to 1 s before its Solicit (RFC 8415 §18.2.1, SOL_MAX_DELAY) and
 * collects Advertises for one retransmission timeout (§15, SOL_TIMEOUT = 1 s) before it
 * Requests; the bound covers a lost message or two retransmitted on §15's schedule.
 */
const DELEGATION_MS = 30_000;
/**
 * A host forms its address in a delegated /64 from the first RA that carries it; r1 sends
 * unsolicited RAs at most `ra.maxInterval` (10 s) apart, so this covers a lost one.
 */
const DELEGATED_SLAAC_MS = 30_000;

/** Each host's SLAAC address, by namespace. */
type HostAddresses = Map<string, string>;

/** What the delegation gave: the prefix r1 holds and each r1 host's address in its /64. */
interface Delegation {
  readonly prefix: string;
  readonly hostAddresses: HostAddresses;
}

/** The fields of `show dhcp client --json` the lab reads. */
interface ShownDhcpClient {
  readonly phase: string;
  readonly leases: ReadonlyArray<{ readonly lease: string; readonly kind: string }>;
  readonly prefixInterfaces: ReadonlyArray<{ readonly interface: string; readonly address: string }>;
}

/** The fields of `show routes --json` the lab reads. */
interface ShownRoute {
  readonly prefix: string;
  readonly origin: string;
  readonly best: boolean;
}

/** What `up` built so far; written after every step so `down` can undo a partial build. */
interface LabState {
  namespaces: string[];
  processes: LabProcess[];
}

const NS = { r0: 't6-r0', r1: 't6-r1', h0: 't6-h0', h1: 't6-h1', h2: 't6-h2' } as const;

/** The kernel hosts: where each lives, its NIC (the router's TAP moved there) and its prefix. */
const HOSTS = [
  { ns: NS.h1, ifname: 'lan0', prefix: '2001:db8:1::/64', router: 'r1' },
  { ns: NS.h2, ifname: 'lan1', prefix: '2001:db8:2::/64', router: 'r1' },
  { ns: NS.h0, ifname: 'svc0', prefix: '2001:db8:100::/64', router: 'r0' },
] as const;

const METRICS_LISTEN = '[::1]:9469';
const METRICS_URL = 'http://[::1]:9469/metrics';

const HERE = dirname(fileURLToPath(import.meta.url));
const TURTLE6 = join(HERE, 'turtle6.js');
const TURTLE6CTL = join(HERE, 'turtle6ctl.js');

/** A lab step failed; the message says what to do about it. */
export class LabError extends Error {
  readonly code = 'ERR_TURTLE6_LAB';
  constructor(message: string) {
    super(message);
    this.name = 'LabError';
  }
}

const DEFAULT_RUN_DIR = '/run/turtle6-lab';

export async function runLab(action: LabAction, options: LabOptions = {}): Promise<void> {
  const runDir = options.runDir ?? process.env['TURTLE6_LAB_DIR'] ?? DEFAULT_RUN_DIR;
  const lab = new Lab(runDir);
  try {
    if (action === 'up') await lab.up(options.detach ?? process.env['TURTLE6_LAB_DETACH'] === '1');
    else if (action === 'down') await lab.down();
    else lab.status();
  } catch (e) {
    process.stderr.write(`turtle6 lab ${action}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}

class Lab {
  private readonly statePath: string;

  constructor(private readonly runDir: string) {
    this.statePath = join(runDir, 'state.json');
  }

  async up(detach: boolean): Promise<void> {
    requireRoot();
    if (this.leftovers()) {
      throw new LabError(`a lab is already up (or left over) according to ${this.statePath}: run \`${this.labCommand('down')}\` first`);
    }
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
    const state: LabState = { namespaces: [], processes: [] };
    this.save(state);

    // Ctrl-C while building or running tears the lab down; the routers run in their own
    // process groups, so the terminal's SIGINT reaches only this process, which stops them in order.
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const routers: RunningRouter[] = [];
    try {
      let built: { addresses: HostAddresses; delegation: Delegation };
      try {
        built = await this.build(state, routers, detach, stop.signal);
      } catch (e) {
        out(`\nthe lab could not be built; removing what was built (logs stay in ${this.runDir})\n`);
        await this.teardown(state);
        throw e;
      }
      const checksPassed = await this.show(built.addresses, built.delegation);
      if (!checksPassed) process.exitCode = 1;
      if (detach) {
        out(`\nThe lab runs in the background. Remove it with:\n${typed(this.labCommand('down'))}`);
        return;
      }
      out(`\nThe lab runs until you press Ctrl-C, or until:\n${typed(this.labCommand('down'))}`);
      const stopped = await untilStopped(routers, stop.signal);
      out(`\n${stopped.reason}; tearing the lab down\n`);
      await this.teardown(state);
      if (!stopped.asked) process.exitCode = 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  async down(): Promise<void> {
    requireRoot();
    const state = this.load();
    if (state === null) {
      out(`no lab recorded in ${this.runDir}; nothing to remove\n`);
      return;
    }
    await this.teardown(state);
    out(`lab removed (configs and logs kept in ${this.runDir})\n`);
  }

  status(): void {
    const state = this.load();
    if (state === null) {
      out(`no lab recorded in ${this.runDir}\n`);
      return;
    }
    out(`run directory: ${this.runDir}\n`);
    for (const p of state.processes) {
      out(`  ${p.role}: pid ${p.pid} ${isLabProcess(p) ? 'running' : 'gone'}  (config ${p.config}, log ${join(this.runDir, `${p.role}.log`)})\n`);
    }
    for (const ns of state.namespaces) out(`  namespace ${ns}: ${namespaceExists(ns) ? 'present' : 'gone'}\n`);
    if (state.processes.length === 0 && state.namespaces.length === 0) out('  nothing is up\n');
  }

  /**
   * Namespaces, routers, hosts with their SLAAC addresses, and the delegated prefix with the
   * hosts' addresses in it: everything a failure rolls back.
   */
  private async build(state: LabState, routers: RunningRouter[], detach: boolean, signal: AbortSignal): Promise<{ addresses: HostAddresses; delegation: Delegation }> {
    const r1Config = this.writeConfig('r1', r1Yaml(this.socket('r1'), join(this.runDir, 'r1-state')));
    const r0Config = this.writeConfig('r0', r0Yaml(this.socket('r0'), join(this.runDir, 'r0-state')));

    // r1's wan0 moves into t6-r0 when r1 starts, so t6-r0 exists before r1 does.
    for (const ns of [NS.r1, NS.h1, NS.h2, NS.r0]) this.addNamespace(state, ns);
    out(`namespaces ${NS.r1} ${NS.h1} ${NS.h2} ${NS.r0} created\n`);
    await this.startRouter(state, routers, 'r1', r1Config, detach, signal);

    // r0 attaches to wan0 (now in t6-r0) and keeps the kernel of t6-r0 silent on it.
    this.addNamespace(state, NS.h0);
    out(`namespace ${NS.h0} created\n`);
    await this.startRouter(state, routers, 'r0', r0Config, detach, signal);

    const addresses: HostAddresses = new Map();
    for (const h of HOSTS) {
      const what = `a SLAAC address in ${h.prefix} on ${h.ns}/${h.ifname}`;
      addresses.set(h.ns, await waitFor(what, () => slaacAddress(h.ns, h.ifname, h.prefix), 30_000, signal));
    }
    await this.waitForRipng(signal);
    const delegation = await this.waitForDelegation(signal);
    return { addresses, delegation };
  }

  /**
   * Polls r1's client until it is bound to a delegated prefix with a /64 on each LAN, then
   * waits for each r1 host to form an address in its /64 from r1's RAs.
   */
  private async waitForDelegation(signal: AbortSignal): Promise<Delegation> {
    const deadline = Date.now() + DELEGATION_MS;
    let shown: ShownDhcpClient | null = null;
    const lans = HOSTS.filter((h) => h.router === 'r1');
    const delegated = (c: ShownDhcpClient | null) =>
      c !== null && c.phase === 'bound' && c.leases.some((l) => l.kind === 'IA_PD') && lans.every((h) => c.prefixInterfaces.some((p) => p.interface === h.ifname));
    while (!delegated(shown)) {
      if (signal.aborted) throw new LabError('interrupted while waiting for the prefix delegation');
      if (shown !== null && Date.now() > deadline) {
        throw new LabError(
          `timed out after ${DELEGATION_MS / 1000} s waiting for r1 to get a prefix delegated by r0 and put a /64 of it on ${lans.map((h) => h.ifname).join(' and ')} ` +
            `(r1's client: ${JSON.stringify(shown)}; see r1.log and r0.log)`,
        );
      }
      if (shown !== null) await new Promise((r) => setTimeout(r, 200));
      const reply = await new ControlClient(this.socket('r1')).request(['show', 'dhcp', 'client'], undefined, true);
      if (!reply.ok) throw new LabError(`r1: turtle6ctl show dhcp client failed: ${reply.error}`);
      shown = reply.data as ShownDhcpClient;
    }
    const prefix = shown!.leases.find((l) => l.kind === 'IA_PD')!.lease;
    out(`prefix delegated: r0 gave r1 ${prefix}\n`);
    const hostAddresses: HostAddresses = new Map();
    for (const h of lans) {
      const routerAddress = shown!.prefixInterfaces.find((p) => p.interface === h.ifname)!.address;
      const lan = subnetOf(routerAddress);
      const what = `a SLAAC address in the delegated ${lan} on ${h.ns}/${h.ifname}`;
      hostAddresses.set(h.ns, await waitFor(what, () => slaacAddress(h.ns, h.ifname, lan), DELEGATED_SLAAC_MS, signal));
    }
    return { prefix, hostAddresses };
  }

  /** Polls both routers' RIBs until each holds the other's LAN prefixes from RIPng. */
  private async waitForRipng(signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + RIPNG_CONVERGENCE_MS;
    for (const role of ['r1', 'r0'] as const) {
      const missing = async (): Promise<string[]> => {
        const reply = await new ControlClient(this.socket(role)).request(['show', 'routes'], undefined, true);
        if (!reply.ok) throw new LabError(`${role}: turtle6ctl show routes failed: ${reply.error}`);
        const learned = new Set((reply.data as ShownRoute[]).filter((r) => r.best && r.origin === 'ripng').map((r) => r.prefix));
        return RIPNG_EXPECTED[role].filter((p) => !learned.has(p));
      };
      let left = await missing();
      while (left.length > 0) {
        if (signal.aborted) throw new LabError('interrupted while waiting for RIPng');
        if (Date.now() > deadline) {
          throw new LabError(`timed out after ${RIPNG_CONVERGENCE_MS / 1000} s waiting for ${role} to learn ${left.join(', ')} by RIPng (see ${role}.log)`);
        }
        await new Promise((r) => setTimeout(r, 200));
        left = await missing();
      }
    }
    out('RIPng converged: r1 and r0 hold each other\'s LAN prefixes\n');
  }

  /** Prints the tour; false when a check (a ping) failed. */
  private async show(addresses: HostAddresses, delegation: Delegation): Promise<boolean> {
    out('\n== Hosts: addresses they formed by SLAAC from the routers\' RAs ==\n');
    for (const h of HOSTS) out(`  ${h.ns.padEnd(6)} ${h.ifname}  ${addresses.get(h.ns)}  (router ${h.router})\n`);

    out(`\n== Prefix delegation: r0's DHCPv6 server gave r1 ${delegation.prefix} (from ${DELEGATION_POOL}) ==\n`);
    out(`  r1's client:\n${typed(this.ctlCommand('r1', 'show dhcp client'), 4)}`);
    out(indent(await this.ctlText('r1', ['show', 'dhcp', 'client']), 4));
    out(`  r0's leases:\n${typed(this.ctlCommand('r0', 'show dhcp leases'), 4)}`);
    out(indent(await this.ctlText('r0', ['show', 'dhcp', 'leases']), 4));
    out('  hosts\' second addresses, from the /64s r1 announces out of the delegated prefix:\n');
    for (const [ns, address] of delegation.hostAddresses) out(`    ${ns.padEnd(6)} ${address}  (delegated)\n`);

    out(`\n== Routes on r1 ==\n${typed(this.ctlCommand('r1', 'show routes'))}`);
    out(indent(await this.ctlText('r1', ['show', 'routes'])));

    out(`\n== RIPng on r1: neighbours and routes ==\n${typed(this.ctlCommand('r1', 'show ripng'))}`);
    out(indent(await this.ctlText('r1', ['show', 'ripng'])));

    out('\n== Pings from t6-h1, across r1 (to t6-h2) and across r1 and r0 (to t6-h0) ==\n');
    let passed = true;
    for (const target of [NS.h2, NS.h0]) {
      const result = ping(NS.h1, addresses.get(target)!);
      passed &&= result.ok;
      out(`  ${NS.h1} -> ${target} (${addresses.get(target)}): ${result.ok ? 'ok' : 'FAILED'}\n${indent(result.summary, 4)}`);
    }
    // From the delegated address, so the reply comes back over r0's route for the delegated prefix.
    const delegatedSource = delegation.hostAddresses.get(NS.h1)!;
    const fromDelegated = ping(NS.h1, addresses.get(NS.h0)!, delegatedSource);
    passed &&= fromDelegated.ok;
    out(`  ${NS.h1} from ${delegatedSource} (delegated) -> ${NS.h0} (${addresses.get(NS.h0)}): ${fromDelegated.ok ? 'ok' : 'FAILED'}\n${indent(fromDelegated.summary, 4)}`);

    out(`\n== Metrics: r1 serves Prometheus metrics on ${METRICS_URL} inside ${NS.r1} ==\n`);
    const metrics = fetchInNamespace(NS.r1, METRICS_URL);
    const sample = metrics.split('\n').filter((l) => /^turtle6_interface_(rx|tx)_packets_total\{/.test(l));
    out(sample.length > 0 ? indent(sample.join('\n')) : '  (no interface series: is the metrics server up? see r1.log)\n');
    out(`  fetch them yourself:\n${typed(asTyped(`ip netns exec ${NS.r1} curl -s ${METRICS_URL}`), 4)}`);

    out('\n== Poke at it ==\n');
    for (const command of [
      this.ctlCommand('r1', 'show interfaces'),
      this.ctlCommand('r1', 'show neighbors'),
      this.ctlCommand('r0', 'show routes'),
      this.ctlCommand('r0', 'show ripng status'),
      this.ctlCommand('r1', 'show dhcp client'),
      this.ctlCommand('r0', 'show dhcp leases'),
      this.ctlCommand('r1', '--json show counters'),
      asTyped(`ip netns exec ${NS.h1} ping -6 -c 3 ${addresses.get(NS.h0)}`),
      asTyped(`ip netns exec ${NS.h2} ip -6 route`),
    ]) {
      out(typed(command));
    }
    out(`  configs and logs: ${this.runDir}/{r0,r1}.yaml, ${this.runDir}/{r0,r1}.log\n`);
    out(typed(this.labCommand('status')));
    out(typed(this.labCommand('down')));
    return passed;
  }

  /** turtle6ctl against a lab router, as a person types it. */
  private ctlCommand(role: RouterRole, words: string): string {
    return asTyped(`${binaryAsTyped('turtle6ctl', TURTLE6CTL)} --socket ${this.socket(role)} ${words}`);
  }

  /** `turtle6 lab ACTION` for this lab, naming its run directory when it is not the default. */
  private labCommand(action: LabAction): string {
    const env = this.runDir === DEFAULT_RUN_DIR ? '' : `env TURTLE6_LAB_DIR=${this.runDir} `;
    return asTyped(`${env}${binaryAsTyped('turtle6', TURTLE6)} lab ${action}`);
  }

  /** A command's table for people, or a line saying why there is none (the tour goes on). */
  private async ctlText(role: RouterRole, command: string[]): Promise<string> {
    const reply = await new ControlClient(this.socket(role)).request(command).catch((e: unknown) => ({ ok: false as const, error: String(e) }));
    return reply.ok ? reply.text : `(failed: ${reply.error}; see ${role}.log)\n`;
  }

  private async startRouter(state: LabState, routers: RunningRouter[], role: RouterRole, config: string, detach: boolean, signal: AbortSignal): Promise<void> {
    const logPath = join(this.runDir, `${role}.log`);
    const log = openSync(logPath, 'w');
    let child: ChildProcess;
    try {
      // `ip netns exec` execs the command, so the PID recorded is the router's own.
      child = spawn('ip', ['netns', 'exec', NS[role], process.execPath, TURTLE6, 'run', '--config', config], {
        detached: true,
        stdio: ['ignore', log, log],
      });
    } finally {
      closeSync(log);
    }
    if (child.pid === undefined) throw new LabError(`could not start ${role}: ${await spawnError(child)}`);
    state.processes.push({ role, pid: child.pid, config });
    this.save(state);
    routers.push({ role, child });
    if (detach) child.unref();
    await waitFor(
      `${role} to come up (log: ${logPath})`,
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new LabError(`${role} exited while starting; the end of ${logPath}:\n${tail(readFileSync(logPath, 'utf8'), 15)}`);
        }
        return existsSync(this.socket(role)) && readFileSync(logPath, 'utf8').includes('turtle6 is up') ? true : null;
      },
      20_000,
      signal,
    );
    out(`${role} is up in ${NS[role]} (pid ${child.pid}, log ${logPath})\n`);
  }

  /** Stops the recorded routers, then deletes the recorded namespaces; safe to repeat. */
  private async teardown(state: LabState): Promise<void> {
    for (const p of [...state.processes].reverse()) {
      if (isLabProcess(p)) await stopProcess(p);
    }
    state.processes = [];
    this.save(state);
    // A router's TAPs vanish with its last fd, so namespaces go after the processes.
    for (const ns of [...state.namespaces].reverse()) {
      if (namespaceExists(ns)) {
        const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
        if (r.status !== 0) throw new LabError(`could not delete namespace ${ns}: ${r.stderr.trim()}`);
      }
    }
    state.namespaces = [];
    this.save(state);
  }

  private addNamespace(state: LabState, ns: string): void {
    const r = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    if (r.status !== 0) {
      throw new LabError(
        `cannot create namespace ${ns} (${r.stderr.trim()}). Is another lab or a test using it? ` +
          `\`${this.labCommand('down')}\` removes only what the lab recorded; remove a stranger with \`${asTyped(`ip netns del ${ns}`)}\``,
      );
    }
    state.namespaces.push(ns);
    this.save(state);
    runIp(['-n', ns, 'link', 'set', 'lo', 'up']);
    // Addresses in a lab this small never collide; skipping DAD (RFC 4862 §5.4) saves the
    // hosts a second of "tentative" before they can use their SLAAC addresses.
    for (const scope of ['all', 'default']) {
      runIp(['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${scope}.accept_dad=0`, `net.ipv6.conf.${scope}.dad_transmits=0`]);
    }
  }

  private writeConfig(role: RouterRole, yaml: string): string {
    const path = join(this.runDir, `${role}.yaml`);
    writeFileSync(path, yaml);
    return path;
  }

  private socket(role: RouterRole): string {
    return join(this.runDir, `${role}.sock`);
  }

  private load(): LabState | null {
    if (!existsSync(this.statePath)) return null;
    const parsed = JSON.parse(readFileSync(this.statePath, 'utf8')) as LabState;
    return { namespaces: parsed.namespaces ?? [], processes: parsed.processes ?? [] };
  }

  /** Written to a temporary file and renamed, so a crash never leaves half a record. */
  private save(state: LabState): void {
    const tmp = `${this.statePath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, this.statePath);
  }

  private leftovers(): boolean {
    const state = this.load();
    return state !== null && (state.processes.some(isLabProcess) || state.namespaces.some(namespaceExists));
  }
}

function r1Yaml(socket: string, stateDir: string): string {
  return `# turtle6 lab: r1, the main router (written by \`turtle6 lab up\`; see docs/lab.md)
interfaces:
  - name: lan0
    addresses: [2001:db8:1::1/64]
    netns: ${NS.h1}
    # Frequent RAs, so hosts that missed the first one configure within seconds.
    ra: { maxInterval: 10 }
  - name: lan1
    addresses: [2001:db8:2::1/64]
    netns: ${NS.h2}
    ra: { maxInterval: 10 }
  # The uplink to r0: this TAP's kernel side moves into ${NS.r0}, where r0 attaches to it.
  - name: wan0
    addresses: [2001:db8:ff::2/64]
    netns: ${NS.r0}
    # The upstream port: r1 learns its default route from r0's RAs here (RFC 7084 W-1), sends none.
    ra: { accept: true }
# RIPng on wan0 only: the LANs' prefixes are advertised (connected routes are redistributed),
# but the hosts on them hear no RIPng (passive).
ripng:
  interfaces:
    - { name: lan0, passive: true }
    - { name: lan1, passive: true }
# r0 is the ISP: ask it on wan0 for an address and a prefix (RFC 8415 IA_NA + IA_PD), and
# number lan0 and lan1 from the prefix (WIDE's prefix-interface with sla-id 1 and 2); the
# /64s go into those ports' RAs, so the hosts form a second address in each.
dhcpv6:
  client:
    interface: wan0
    prefixInterfaces:
      - { name: lan0, slaId: 1 }
      - { name: lan1, slaId: 2 }
metrics:
  listen: "${METRICS_LISTEN}"
control:
  socket: ${socket}
stateDir: ${stateDir}
`;
}

function r0Yaml(socket: string, stateDir: string): string {
  return `# turtle6 lab: r0, the upstream router (written by \`turtle6 lab up\`; see docs/lab.md)
interfaces:
  - name: svc0
    addresses: [2001:db8:100::1/64]
    netns: ${NS.h0}
    ra: { maxInterval: 10 }
  # Glued with tc to wan0, r1's port, whose kernel side lives in this namespace.
  - name: down0
    addresses: [2001:db8:ff::1/64]
    attach: wan0
    # r0 is r1's default router: r1 takes ::/0 from these RAs, no static route.
    ra: { maxInterval: 10 }
# RIPng on down0 only; svc0's prefix is advertised, its host hears no RIPng.
ripng:
  interfaces:
    - { name: svc0, passive: true }
# The ISP's DHCPv6 server on down0: an address for r1's WAN port and a /${DELEGATED_LENGTH} for its LANs,
# routed to r1 while the lease lasts.
dhcpv6:
  server:
    interfaces:
      - name: down0
        addressPool: { start: 2001:db8:ff::100, end: 2001:db8:ff::1ff }
        prefixPool: { prefix: ${DELEGATION_POOL}, delegatedLength: ${DELEGATED_LENGTH} }
metrics:
  listen: "${METRICS_LISTEN}"
control:
  socket: ${socket}
stateDir: ${stateDir}
`;
}

function out(text: string): void {
  process.stdout.write(text);
}

/**
 * A command as the person who started the lab types it in their shell: with sudo when they
 * ran the lab through sudo (the lab needs root), plain when they are root already. Paths are
 * absolute, so nothing depends on the current directory.
 */
function asTyped(command: string): string {
  return process.env['SUDO_USER'] ? `sudo ${command}` : command;
}

/**
 * How the tour spells one of turtle6's binaries: its short name when that name, looked up in
 * `path` as the shell would, is this very file (`npm install -g` or `npm link` put it there),
 * else `node /absolute/path.js`, which works from anywhere. A `turtle6ctl` on PATH that is
 * another copy (an older install) is not taken for this one. Under sudo, the lab's PATH is
 * already sudo's, the one the printed `sudo …` lines will search.
 */
export function binaryAsTyped(name: string, file: string, path = process.env['PATH'] ?? ''): string {
  const target = realpathSync(file);
  for (const dir of path.split(':')) {
    if (dir === '' || !dir.startsWith('/')) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    // The first one found is the one the shell runs: this file or not.
    return realpathSync(candidate) === target ? name : `node ${file}`;
  }
  return `node ${file}`;
}

/** A command line of the tour: "$ " and the command, to copy and run exactly as printed. */
function typed(command: string, spaces = 2): string {
  return `${' '.repeat(spaces)}$ ${command}\n`;
}

function indent(text: string, spaces = 2): string {
  const pad = ' '.repeat(spaces);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => pad + l)
    .join('\n')
    .concat('\n');
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new LabError('the lab creates network namespaces and TAP devices: run it as root (sudo)');
}

function runIp(args: readonly string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new LabError(`ip is missing (Debian package iproute2): ${String(r.error)}`);
  if (r.status !== 0) throw new LabError(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

function namespaceExists(ns: string): boolean {
  return existsSync(join('/run/netns', ns));
}

/** True while `p.pid` is alive and is still the router the lab started (not a reused PID). */
function isLabProcess(p: LabProcess): boolean {
  try {
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(p.config) && cmdline.some((arg) => arg.endsWith('turtle6.js'));
  } catch {
    return false;
  }
}

/** SIGTERM (turtle6 stops cleanly: tc glue removed, TAPs closed), then SIGKILL after 10 s. */
async function stopProcess(p: LabProcess): Promise<void> {
  process.kill(p.pid, 'SIGTERM');
  try {
    await waitFor(`${p.role} (pid ${p.pid}) to exit`, () => (isLabProcess(p) ? null : true), 10_000);
  } catch {
    process.kill(p.pid, 'SIGKILL');
    await waitFor(`${p.role} (pid ${p.pid}) to die`, () => (isLabProcess(p) ? null : true), 5_000);
  }
}

function spawnError(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => child.once('error', (e) => resolve(e.message)));
}

/** Resolves once the lab is asked to stop (a signal) or a router exits on its own. */
function untilStopped(routers: readonly RunningRouter[], signal: AbortSignal): Promise<{ asked: boolean; reason: string }> {
  return new Promise((resolve) => {
    const asked = () => resolve({ asked: true, reason: 'signal received' });
    if (signal.aborted) return asked();
    signal.addEventListener('abort', asked, { once: true });
    for (const { role, child } of routers) {
      child.once('exit', (code, sig) => resolve({ asked: false, reason: `router ${role} exited (${sig ?? `code ${code}`}); see ${role}.log` }));
    }
  });
}

/**
 * Polls `check` every 100 ms until it returns a value (not null), or throws a LabError naming
 * `what` after `timeoutMs`. An error thrown by `check` ends the wait at once.
 */
async function waitFor<T>(what: string, check: () => T | null, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new LabError(`interrupted while waiting for ${what}`);
    const value = check();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new LabError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The host's global address in `prefix` (text, e.g. "2001:db8:1::/64"), once DAD no longer holds it tentative. */
function slaacAddress(ns: string, ifname: string, prefix: string): string | null {
  const wanted = parsePrefix(prefix);
  if (wanted === null) throw new LabError(`internal: ${prefix} is not a prefix`);
  const r = spawnSync('ip', ['-n', ns, '-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'global'], { encoding: 'utf8' });
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /inet6 ([0-9a-f:]+)\/\d+/.exec(line);
    const address = m ? parseIpv6(m[1]!) : null;
    if (address !== null && prefixContains(wanted, address) && !line.includes('tentative')) return m![1]!;
  }
  return null;
}

/** The subnet an interface address "A/64" (as `show dhcp client` gives it) lies in, as "P/64". */
function subnetOf(interfaceAddress: string): string {
  const p = parsePrefix(interfaceAddress);
  if (p === null) throw new LabError(`r1 reported ${interfaceAddress}, which is not ADDRESS/LEN`);
  return formatPrefix(p);
}

/** Three echo requests (from `source` when given); the summary is ping's last two lines (loss and round-trip times). */
function ping(ns: string, dst: string, source?: string): { ok: boolean; summary: string } {
  const from = source === undefined ? [] : ['-I', source];
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-6', '-n', '-c', '3', '-i', '0.2', '-W', '2', ...from, dst], { encoding: 'utf8' });
  if (r.status !== 0 && /No such file|not found/i.test(r.stderr ?? '')) {
    return { ok: false, summary: 'ping is not installed (Debian package iputils-ping)' };
  }
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0, summary: tail(text, 2) };
}

/** GET `url` from inside `ns` with this Node binary, so curl is not needed. */
function fetchInNamespace(ns: string, url: string): string {
  const script = `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(String(e)); process.exit(1); })`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return r.status === 0 ? r.stdout : '';
}
