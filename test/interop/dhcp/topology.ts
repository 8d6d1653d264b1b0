/**
 * What the DHCPv6 interop tests share beyond the WIDE daemons (wide.ts): the router's config
 * around its `dhcpv6:` section, the two topologies most of them use, turtle6's pinned DUID,
 * bridges and a tcpdump capture, the `show dhcp …` views, and the polls that wait for a
 * binding with the peers' logs in the failure message.
 *
 *   turtle6 as a server:  turtle6 (ns r) ── tap ── client (ns c)
 *   turtle6 as a client:  server (ns s) ── tap wan ── turtle6 (ns r) [── tap lan ── host (ns h)]
 *   turtle6 as a relay:   client (ns c) ── tap cl ── turtle6 (ns r) ── tap up ── server (ns s)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { pollUntil, shortName, type Netns, type TestBed } from '../../helpers/netns.js';
import { startRouter, type RunningRouter } from '../../helpers/router.js';
import { globalAddresses, type WideDaemon } from './wide.js';

/** The `ra:` of a port that must not announce (a WAN, or a link whose host is configured by DHCPv6 alone). */
export const RA_OFF = '{ enabled: false }';
/** The `ra:` of a LAN whose host forms SLAAC addresses: an RA at least every 4 s. */
export const RA_FAST = '{ enabled: true, maxInterval: 4 }';

export interface TapPort {
  readonly name: string;
  /** The namespace the tap is moved into: the peer's end of the link. */
  readonly netns: Netns;
  readonly addresses?: readonly string[];
  /** The port's `ra:` flow mapping; left out, turtle6's default. */
  readonly ra?: string;
}

/**
 * A router config: `ports` as taps, one lane, no host interface and no metrics listener
 * (nothing these tests look at), then `rest` (the `dhcpv6:` section, a `stateDir:`).
 */
export function routerYaml(ports: readonly TapPort[], rest: string): string {
  const interfaces = ports.map((p) =>
    [
      `  - name: ${p.name}`,
      '    kind: tap',
      ...(p.addresses ? [`    addresses: [${p.addresses.join(', ')}]`] : []),
      `    netns: ${p.netns.name}`,
      ...(p.ra ? [`    ra: ${p.ra}`] : []),
    ].join('\n'),
  );
  return `
interfaces:
${interfaces.join('\n')}
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
${rest}`;
}

/** The router's address on the link its server serves (the pools of servedLink are in its /64). */
export const SERVED_ADDRESS = '2001:db8:1::1/64';

/**
 * `dhcpv6.server.interfaces` for the one served link, indented to go under `server:`: IA_NA
 * addresses from 2001:db8:1::1000–10ff and, with `prefixes`, IA_PD /56s of 2001:db8:100::/48.
 */
export function servedLink(tap: string, prefixes: boolean): string {
  return `    interfaces:
      - name: ${tap}
        addressPool: { start: 2001:db8:1::1000, end: 2001:db8:1::10ff }
${prefixes ? '        prefixPool: { prefix: 2001:db8:100::/48, delegatedLength: 56 }\n' : ''}`;
}

/**
 * A state directory for turtle6 that goes away with the bed. With `duid`, turtle6's DUID is
 * pinned in it: WIDE dhcp6s leases only to `host` entries, which match by DUID.
 */
export function routerStateDir(bed: TestBed, duid?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 't6-d6state-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  if (duid !== undefined) {
    mkdirSync(join(dir, 'dhcpv6'), { recursive: true });
    writeFileSync(join(dir, 'dhcpv6', 'duid'), `${duid}\n`);
  }
  return dir;
}

/** A file holding a delayed-authentication `secret` (base64, as `keys[].secretFile` reads it), gone with the bed. */
export function secretFile(bed: TestBed, secret: string): string {
  const dir = mkdtempSync(join(tmpdir(), 't6-d6key-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 't6key.secret');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return file;
}

/** A bridge in `ns`, up. */
export function addBridge(ns: Netns, name: string): void {
  ns.ip('link', 'add', name, 'type', 'bridge');
  ns.ip('link', 'set', name, 'up');
}

/** Puts `ifname` on `bridge` and brings it up. */
export function enslave(ns: Netns, ifname: string, bridge: string): void {
  ns.ip('link', 'set', ifname, 'master', bridge);
  ns.ip('link', 'set', ifname, 'up');
}

/** Waits for a link-local address on `ifname` in `ns` (DHCPv6 runs over it) and returns it. */
export async function waitForLinkLocal(ns: Netns, ifname: string): Promise<string> {
  let address = '';
  await pollUntil(`a link-local address on ${ns.name}/${ifname}`, () => {
    address = /inet6 (fe80::[0-9a-f:]+)\//.exec(ns.run('ip', ['-6', 'addr', 'show', 'dev', ifname, 'scope', 'link']).stdout)?.[1] ?? '';
    return address !== '';
  });
  return address;
}

export interface Capture {
  /** The pcap file, written packet by packet (-U). */
  readonly file: string;
  readonly tcpdump: ChildProcess;
}

/** tcpdump on `ifname` in `ns` into a pcap file that goes away with the bed; returns once it writes. */
export async function startCapture(bed: TestBed, ns: Netns, ifname: string, filter: string): Promise<Capture> {
  const dir = mkdtempSync(join(tmpdir(), 't6-d6pcap-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'dhcpv6.pcap');
  const tcpdump = bed.spawnIn(ns, 'tcpdump', ['-U', '--immediate-mode', '-i', ifname, '-w', file, filter]);
  // tcpdump creates the file once it has opened the interface: from then on it sees every packet.
  await pollUntil('tcpdump to start writing', () => existsSync(file));
  return { file, tcpdump };
}

/** What explains a failure: a WIDE daemon's log, a router's output, or any text (a log file, counters). */
export type LogSource = Pick<WideDaemon, 'log'> | Pick<RunningRouter, 'output'> | (() => string | Promise<string>);

/** The tails of `sources`, each under its name, read at the time of the failure. */
async function tails(sources: Readonly<Record<string, LogSource>>): Promise<string> {
  let text = '';
  for (const [name, source] of Object.entries(sources)) {
    const full = typeof source === 'function' ? await source() : 'log' in source ? source.log() : source.output();
    text += `\n--- ${name} ---\n${full.slice(-3000)}`;
  }
  return text;
}

/** pollUntil, whose timeout carries the tails of `sources`: an interop failure is read in the peers' logs. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  sources: Readonly<Record<string, LogSource>>,
): Promise<void> {
  try {
    await pollUntil(what, check, timeoutMs);
  } catch (e) {
    throw new Error(`${String(e)}${await tails(sources)}`);
  }
}

/**
 * Waits until each interface named in `wanted` holds a global address its predicate accepts
 * (what a DHCPv6 client configured from its lease), and returns the first such per interface.
 */
export async function waitForAddresses(
  ns: Netns,
  wanted: Readonly<Record<string, (address: string) => boolean>>,
  what: string,
  sources: Readonly<Record<string, LogSource>>,
  timeoutMs = 20_000,
): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  await waitFor(what, () => Object.entries(wanted).every(([ifname, accept]) => {
    const address = globalAddresses(ns, ifname).find(accept);
    if (address !== undefined) found[ifname] = address;
    return address !== undefined;
  }), timeoutMs, sources);
  return found;
}

export interface ClientShow {
  phase: string;
  leases: Array<{ lease: string; kind: string }>;
  prefixInterfaces: Array<{ interface: string; address: string }>;
  dnsServers: string[];
  domains: string[];
}

export interface DhcpStatus {
  interfaces: Array<{ interface: string; role: string; state: string }>;
  received: Record<string, number>;
  sent: Record<string, number>;
  drops: Record<string, number>;
}

export interface Lease {
  lease: string;
  kind: string;
  duid: string;
  iaid: number;
  /** The served interface, or the subnet's prefix for a client behind relays. */
  link: string | null;
  /** The relay agent a relayed client's messages came through. */
  relay: string | null;
  expires: string;
}

export const dhcpClient = async (router: RunningRouter) => (await router.ctl(['show', 'dhcp', 'client'])) as ClientShow;
export const dhcpStatus = async (router: RunningRouter) => (await router.ctl(['show', 'dhcp', 'status'])) as DhcpStatus;
export const dhcpLeases = async (router: RunningRouter) => ((await router.ctl(['show', 'dhcp', 'leases'])) as { leases: Lease[] }).leases;

/** Waits for turtle6's client to be bound with an address and a prefix, and returns what it shows then. */
export async function waitForClientBinding(router: RunningRouter, sources: Readonly<Record<string, LogSource>>): Promise<ClientShow> {
  let show: ClientShow | undefined;
  await waitFor('turtle6\'s client to bind an address and a prefix', async () => {
    show = await dhcpClient(router);
    return show.phase === 'bound' && show.leases.length === 2;
  }, 20_000, sources);
  return show!;
}

export interface ServerTopology {
  readonly r: Netns;
  /** The client's namespace. */
  readonly c: Netns;
  readonly tap: string;
  readonly router: RunningRouter;
  /** The client namespace's link-local address on the tap. */
  readonly linkLocal: string;
}

/**
 * turtle6 in ns r with one tap (SERVED_ADDRESS, no RAs) into a new client namespace c, where
 * it is up with a link-local address; `dhcpv6(tap)` is the router's `dhcpv6:` section.
 */
export async function routerAsServer(bed: TestBed, dhcpv6: (tap: string) => string): Promise<ServerTopology> {
  const r = bed.netns('r');
  const c = bed.netns('c');
  const tap = shortName('t6d');
  const router = await startRouter(bed, r, routerYaml([{ name: tap, netns: c, addresses: [SERVED_ADDRESS], ra: RA_OFF }], dhcpv6(tap)));
  c.ip('link', 'set', tap, 'up');
  return { r, c, tap, router, linkLocal: await waitForLinkLocal(c, tap) };
}

export interface RelayTopology {
  readonly c: Netns;
  readonly s: Netns;
  /** The client-side tap (2001:db8:7::1/64 on turtle6) and the upstream tap (2001:db8:8::1/64; the server has ::2). */
  readonly cl: string;
  readonly up: string;
  readonly router: RunningRouter;
  /** The client namespace's link-local address on `cl`. */
  readonly clientLinkLocal: string;
  /** kill -9 of turtle6 and a start on the same config (switched: the peers keep their interfaces). */
  restart(): Promise<RunningRouter>;
}

/**
 * turtle6 in ns r relaying (`dhcpv6.relay`) from tap cl into a new client namespace c to tap
 * up into a new server namespace s, where the server's side has 2001:db8:8::2; `rest` is
 * added to the router's config (a `stateDir:`). With `switched`, the taps go to a switch
 * namespace, bridged to veths of the same names in c and s, so the peers' interfaces (and
 * the daemons bound to them) survive a restart of turtle6.
 */
export async function routerAsRelay(bed: TestBed, rest = '', switched = false): Promise<RelayTopology> {
  const r = bed.netns('r');
  const c = bed.netns('c');
  const s = bed.netns('s');
  const sw = switched ? bed.netns('sw') : null;
  const cl = shortName('t6c');
  const up = shortName('t6u');
  // Switched: each tap on a bridge in sw, with a veth of the same name into c or s.
  const links: ReadonlyArray<[string, Netns, string]> = [[cl, c, 'sw0'], [up, s, 'sw1']];
  if (sw !== null) {
    for (const [name, ns, bridge] of links) {
      addBridge(sw, bridge);
      sw.ip('link', 'add', `${bridge}p`, 'type', 'veth', 'peer', 'name', name, 'netns', ns.name);
      enslave(sw, `${bridge}p`, bridge);
      ns.ip('link', 'set', name, 'up');
    }
  }
  const config = routerYaml([
    { name: cl, netns: sw ?? c, addresses: ['2001:db8:7::1/64'] },
    { name: up, netns: sw ?? s, addresses: ['2001:db8:8::1/64'] },
  ], `
dhcpv6:
  relay:
    interfaces: [${cl}]
    upstream: ${up}
${rest}`);
  const start = async () => {
    const started = await startRouter(bed, r, config);
    if (sw !== null) for (const [name, , bridge] of links) enslave(sw, name, bridge);
    return started;
  };
  let router = await start();
  const clientLinkLocal = await waitForLinkLocal(c, cl);
  await waitForLinkLocal(s, up);
  s.ip('addr', 'add', '2001:db8:8::2/64', 'dev', up, 'nodad');
  const restart = async () => {
    router.process.kill('SIGKILL');
    await pollUntil('turtle6 to die', () => router.process.signalCode !== null || router.process.exitCode !== null);
    router = await start();
    return router;
  };
  return { c, s, cl, up, router, clientLinkLocal, restart };
}

export interface ClientOptions {
  /** turtle6's DUID, pinned in its state directory; left out, turtle6 makes its own. */
  readonly duid?: string;
  /** The server's address on the WAN link (with length), added once the link is up. */
  readonly upstream: string;
}

export interface ClientTopology {
  readonly r: Netns;
  /** The server's namespace. */
  readonly s: Netns;
  readonly wan: string;
  readonly router: RunningRouter;
}

export interface ClientWithLan extends ClientTopology {
  /** The LAN host's namespace. */
  readonly h: Netns;
  readonly lan: string;
}

/**
 * turtle6 in ns r with a WAN tap (no RAs) into a new server namespace s, where it has a
 * link-local address and the `upstream` address; with `lan`, also a LAN tap announcing RAs
 * into a host namespace h. `dhcpv6` gives the router's `dhcpv6:` section for those names.
 */
export function routerAsClient(bed: TestBed, options: ClientOptions & { lan: true; dhcpv6: (ports: { wan: string; lan: string }) => string }): Promise<ClientWithLan>;
export function routerAsClient(bed: TestBed, options: ClientOptions & { lan: false; dhcpv6: (ports: { wan: string }) => string }): Promise<ClientTopology>;
export async function routerAsClient(
  bed: TestBed,
  options: ClientOptions & { lan: boolean; dhcpv6: (ports: { wan: string; lan: string }) => string },
): Promise<ClientTopology | ClientWithLan> {
  const r = bed.netns('r');
  const s = bed.netns('s');
  const h = options.lan ? bed.netns('h') : undefined;
  const wan = shortName('t6w');
  const lan = shortName('t6l');
  const ports: TapPort[] = [{ name: wan, netns: s, ra: RA_OFF }];
  if (h) ports.push({ name: lan, netns: h, ra: RA_FAST });
  const stateDir = options.duid === undefined ? '' : `stateDir: ${routerStateDir(bed, options.duid)}\n`;
  const router = await startRouter(bed, r, routerYaml(ports, stateDir + options.dhcpv6({ wan, lan })));
  await waitForLinkLocal(s, wan);
  if (h) await waitForLinkLocal(h, lan);
  s.ip('addr', 'add', options.upstream, 'dev', wan, 'nodad');
  return h ? { r, s, h, wan, lan, router } : { r, s, wan, router };
}
