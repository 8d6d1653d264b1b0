/**
 * The running side of the ESP interop tests against the scapy peer (addresses, keys and SA
 * lines: common.ts): the namespaces and turtle6 between them, a capture of the peer's link,
 * and peer.py itself.
 *
 *   h1 (2001:db8:1::10) ── if1 (2001:db8:1::1) ── turtle6 ── if2 (2001:db8:2::1) ── peer (scapy, 2001:db8:2::20)
 *                                                                                    └─ "behind" 2001:db8:3::1
 *
 * The kernel's IPv6 is off in the peer's namespace: the link is scapy's alone, and scapy
 * answers Neighbor Discovery itself.
 */
import { join } from 'node:path';
import { pollUntil, requireCommand, run, shortName, type Netns, type TestBed } from '../../helpers/netns.js';
import { startRouter, type RunningRouter } from '../../helpers/router.js';
import { H1, PEER, PEER_PY, PYTHON, ROUTER, ROUTER_MAC, SPI_IN, SPI_OUT, requireScapy, type Keys, type PeerEvent } from './common.js';

export interface EspTopologyOptions {
  readonly lanes: number;
  /**
   * A static route to 2001:db8:3::/64 via the peer, for policy-based setups; a route-based
   * tunnel (`ipsec.tunnels`) installs its own route instead.
   */
  readonly routeBehind: boolean;
  /** `metrics.listen`; left out, no metrics endpoint. */
  readonly metricsListen?: string;
  /** The router's `ipsec:` section. */
  readonly ipsec: string;
}

export interface EspTopology {
  readonly r: Netns;
  readonly h1: Netns;
  readonly peer: Netns;
  /** The router's port to h1. */
  readonly if1: string;
  /** The router's port to the peer. */
  readonly if2: string;
  readonly router: RunningRouter;
}

/** Checks every tool the ESP interop tests use, then builds the topology with h1 routed through turtle6. */
export async function espTopology(bed: TestBed, options: EspTopologyOptions): Promise<EspTopology> {
  requireScapy();
  requireCommand('tcpdump', 'tcpdump');
  requireCommand('tshark', 'tshark');
  requireCommand('ping', 'iputils-ping');
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const peer = bed.netns('peer');
  // The peer's link is scapy's alone: the kernel there must not answer ND or send anything.
  for (const k of ['all', 'default']) peer.sysctl(`net.ipv6.conf.${k}.disable_ipv6`, '1');
  const if1 = shortName('t6e');
  const if2 = shortName('t6p');
  const router = await startRouter(bed, r, `
interfaces:
  - name: ${if1}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
  - name: ${if2}
    mac: "${ROUTER_MAC}"
    addresses: [${ROUTER}/64]
    netns: ${peer.name}
${options.routeBehind ? `routes:\n  - { prefix: 2001:db8:3::/64, via: ${PEER} }` : ''}
dataplane: { lanes: ${options.lanes}, hostInterface: false }
metrics: { listen: "${options.metricsListen ?? ''}" }
${options.ipsec}`);
  h1.ip('addr', 'add', `${H1}/64`, 'dev', if1, 'nodad');
  h1.ip('link', 'set', if1, 'up');
  h1.ip('-6', 'route', 'replace', 'default', 'via', '2001:db8:1::1', 'dev', if1);
  peer.ip('link', 'set', if2, 'up');
  return { r, h1, peer, if1, if2, router };
}

export interface Capture {
  /** The pcap file, in the router's directory. */
  readonly file: string;
  /** Waits until tcpdump has written at least `packets` packets, then stops it so the file is whole. */
  finish(packets: number): Promise<void>;
}

/** tcpdump on the peer's side of its link (what turtle6 put on the wire), from `filter`; returns once it listens. */
export async function captureWire(bed: TestBed, topology: EspTopology, filter: string): Promise<Capture> {
  const file = join(topology.router.dir, 'wire.pcap');
  const dump = bed.spawnIn(topology.peer, 'tcpdump', ['-U', '--immediate-mode', '-i', topology.if2, '-w', file, filter]);
  let stderr = '';
  dump.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await pollUntil('tcpdump to listen', () => stderr.includes('listening'));
  return {
    file,
    finish: async (packets) => {
      await pollUntil(`tcpdump to have written ${packets} packets`, () => run('tcpdump', ['-r', file]).stdout.trim().split('\n').filter(Boolean).length >= packets, 10_000);
      dump.kill('SIGINT');
      await pollUntil('tcpdump to exit', () => dump.exitCode !== null || dump.signalCode !== null);
    },
  };
}

export interface ScapyPeer {
  /** The JSON events peer.py has printed so far. */
  events(): PeerEvent[];
  /** All peer.py has printed so far, for failure messages. */
  output(): string;
  /** SIGTERM: peer.py stops sniffing and reports `done`. */
  stop(): void;
  /** Waits for the `done` event and returns it. */
  finished(timeoutMs: number): Promise<PeerEvent>;
}

/**
 * peer.py in the peer's namespace with the other ends of turtle6's SAs (SPI_OUT in, SPI_IN
 * out, under `keys`) and `extra` arguments (--behind, --ping, --timeout); returns once it sniffs.
 */
export async function startPeer(bed: TestBed, topology: EspTopology, mode: 'tunnel' | 'transport', keys: Keys, extra: readonly string[]): Promise<ScapyPeer> {
  const scapy = bed.spawnIn(topology.peer, PYTHON, [
    PEER_PY, '--iface', topology.if2, '--addr', PEER, '--router', ROUTER, '--router-mac', ROUTER_MAC, '--mode', mode,
    '--alg', keys.encryption.startsWith('aes-gcm') ? 'gcm' : 'cbc',
    '--spi-in', String(SPI_OUT), '--spi-out', String(SPI_IN),
    '--key-in', keys.out.enc, '--key-out', keys.in.enc, '--auth-in', keys.out.auth, '--auth-out', keys.in.auth,
    ...extra,
  ]);
  let stdout = '';
  let stderr = '';
  scapy.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  scapy.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const events = () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as PeerEvent);
  await pollUntil('the scapy peer to sniff', () => {
    if (scapy.exitCode !== null) throw new Error(`scapy peer exited: ${stderr}`);
    return events().some((e) => e.event === 'ready');
  }, 20_000);
  return {
    events,
    output: () => stdout + stderr,
    stop: () => scapy.kill('SIGTERM'),
    finished: async (timeoutMs) => {
      await pollUntil('the scapy peer to finish', () => events().some((e) => e.event === 'done'), timeoutMs);
      return events().find((e) => e.event === 'done')!;
    },
  };
}
