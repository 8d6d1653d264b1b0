/**
 * The foundation's standard topology: turtle6 in its own namespace with two kernel hosts,
 * one on each port.
 *
 *    h1 ── lan0 (2001:db8:1::1/64) ── turtle6 ── lan1 (2001:db8:2::1/64) ── h2
 */
import { shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac, type RunningRouter } from '../helpers/router.js';

export interface TwoHosts {
  readonly r: Netns;
  readonly h1: Netns;
  readonly h2: Netns;
  readonly if1: string;
  readonly if2: string;
  readonly router: RunningRouter;
  /** The hosts' global addresses. */
  readonly a1: string;
  readonly a2: string;
}

export interface TwoHostsOptions {
  readonly kind?: 'tap' | 'tun';
  readonly lanes?: number;
  readonly io?: 'auto' | 'uring' | 'syscall';
  /** MTU of both ports (default 1500); mtu2 overrides it for the second. */
  readonly mtu?: number;
  readonly mtu2?: number;
  readonly extra?: string;
  readonly rdnss?: boolean;
  /** More keys of both ports' `ra`, as YAML lines indented by 6 spaces. */
  readonly ra?: string;
  /** metrics.listen (default "": off). */
  readonly metrics?: string;
}

export async function twoHosts(bed: TestBed, opts: TwoHostsOptions = {}): Promise<TwoHosts> {
  const kind = opts.kind ?? 'tap';
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  const if1 = shortName('t6a');
  const if2 = shortName('t6b');
  const ra = (n: number) =>
    kind === 'tap'
      ? `    ra:\n      maxInterval: 4\n${opts.ra ?? ''}${opts.rdnss ? `      rdnss: { servers: [2001:db8:${n}::53], lifetime: 600 }\n      dnssl: { domains: [lab.example], lifetime: 600 }\n` : ''}`
      : '';
  const config = `
interfaces:
  - name: ${if1}
    kind: ${kind}
    mtu: ${opts.mtu ?? 1500}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
${ra(1)}  - name: ${if2}
    kind: ${kind}
    mtu: ${opts.mtu2 ?? opts.mtu ?? 1500}
    addresses: [2001:db8:2::1/64]
    netns: ${h2.name}
${ra(2)}dataplane:
  lanes: ${opts.lanes ?? 1}
  io: ${opts.io ?? 'auto'}
  hostInterface: false
  icmpErrors: { rate: 1000, burst: 100 }
metrics:
  listen: "${opts.metrics ?? ''}"
${opts.extra ?? ''}
`;
  const router = await startRouter(bed, r, config);
  let a1: string;
  let a2: string;
  if (kind === 'tap') {
    a1 = await waitForSlaac(h1, if1, '2001:db8:1:');
    a2 = await waitForSlaac(h2, if2, '2001:db8:2:');
  } else {
    // A TUN has no link layer and so no SLAAC: the hosts are configured by hand.
    a1 = '2001:db8:1::100';
    a2 = '2001:db8:2::100';
    for (const [h, ifn, a] of [[h1, if1, a1], [h2, if2, a2]] as const) {
      h.ip('addr', 'add', `${a}/64`, 'dev', ifn, 'nodad');
      h.ip('-6', 'route', 'add', 'default', 'dev', ifn);
    }
  }
  return { r, h1, h2, if1, if2, router, a1, a2 };
}

/** Runs ping6 in `ns` and returns its output and exit code. */
export function ping(ns: Netns, dst: string, ...args: string[]): { code: number; out: string } {
  const r = ns.run('ping', ['-6', '-n', '-c', '3', '-i', '0.2', '-W', '2', ...args, dst]);
  return { code: r.code, out: r.stdout + r.stderr };
}

/**
 * Sends `perFlow` UDP datagrams from each of `flows` sockets (one source port each) in `ns` to
 * [dst]:9 (discard). Many flows spread over a multi-queue TAP's queues, so over the lanes.
 */
export function udpFlows(ns: Netns, dst: string, flows: number, perFlow: number): void {
  const script = `
    import { createSocket } from 'node:dgram';
    const [dst, flows, perFlow] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
    const payload = Buffer.alloc(64);
    for (let f = 0; f < flows; f++) {
      const s = createSocket('udp6');
      for (let i = 0; i < perFlow; i++) await new Promise((resolve, reject) => s.send(payload, 9, dst, (e) => (e ? reject(e) : resolve())));
      s.close();
    }`;
  ns.runOk(process.execPath, ['--input-type=module', '-e', script, dst, String(flows), String(perFlow)]);
}
