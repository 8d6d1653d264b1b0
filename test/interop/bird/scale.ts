/**
 * RIPng at scale: BIRD (B1) originates N static /64s into RIP, a chain carries them, and a
 * far BIRD (B2) counts them. Shared by test/interop/ripng-scale.test.ts (a smaller N) and
 * bench/ripng-scale.ts (10,000, beside BIRD doing the middle's job).
 *
 *   none:     B1 ══ B2
 *   bird:     B1 ══ Bm ══ B2          (veths)
 *   turtle6:  B1 ══ turtle6 ══ B2     (turtle6's TAPs moved into B1's and B2's namespaces)
 *
 * Everything starts with B1's static protocol disabled. Once B2 has learned B1's stub
 * prefix (so every adjacency is up), the clock starts with `birdc enable`, and stops when
 * B2 holds all N routes from RIP: the time to converge. Peak memory is each daemon's VmHWM.
 */
import { readFileSync } from 'node:fs';
import { pollUntil, shortName, type Netns, type TestBed } from '../../helpers/netns.js';
import { startRouter } from '../../helpers/router.js';
import { startBird, type Bird, type RipInterface } from './bird.js';

export type Middle = 'none' | 'bird' | 'turtle6';

export interface ScaleOptions {
  readonly middle: Middle;
  readonly routes: number;
  /** Seconds; long enough that no route times out while a busy router catches up. */
  readonly timers?: { readonly update: number; readonly timeout: number; readonly garbage: number };
  /** Bound on the wait for convergence. */
  readonly timeoutMs?: number;
}

export interface ScaleResult {
  readonly middle: Middle;
  readonly routes: number;
  /** From enabling B1's static routes to B2 holding all of them from RIP. */
  readonly convergeMs: number;
  /** Peak resident memory (VmHWM) of the middle router in KiB, and its resident memory just before the routes came (VmRSS). */
  readonly middlePeakKiB: number | null;
  readonly middleIdleKiB: number | null;
  readonly b1PeakKiB: number;
  readonly b2PeakKiB: number;
  /** Routes the middle held from RIP once converged (turtle6: `show ripng status`; BIRD: its RIP count). */
  readonly middleRoutes: number | null;
}

export const SCALE_TIMERS = { update: 10, timeout: 120, garbage: 60 } as const;

/** B1's static /64s, in 2001:db8:8000::/48 (N ≤ 65,536). */
export function staticRoutes(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`  route 2001:db8:8000:${i.toString(16)}::/64 blackhole;`);
  return `protocol static static1 {\n  disabled;\n  ipv6;\n${lines.join('\n')}\n}\n`;
}

/** A field of /proc/PID/status in KiB: VmHWM is the peak resident memory, VmRSS the current. */
export function kib(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

function addr(ns: Netns, ifname: string, address: string): void {
  ns.ip('addr', 'add', address, 'dev', ifname, 'nodad');
  ns.ip('link', 'set', ifname, 'up');
}

async function linkLocal(ns: Netns, ifname: string): Promise<void> {
  await pollUntil(`a link-local address on ${ns.name}/${ifname}`, () => /inet6 fe80::/.test(ns.ip('-6', 'addr', 'show', 'dev', ifname)));
}

export async function runScaleChain(bed: TestBed, opts: ScaleOptions): Promise<ScaleResult> {
  const timers = opts.timers ?? SCALE_TIMERS;
  const b1 = bed.netns('b1');
  const b2 = bed.netns('b2');
  for (const b of [b1, b2]) b.sysctl('net.ipv6.conf.all.forwarding', '1');
  // B1's stub (a veth pair inside B1): the sign that the whole chain is up.
  const stub = shortName('st');
  b1.ip('link', 'add', stub, 'type', 'veth', 'peer', 'name', shortName('sp'));
  addr(b1, stub, '2001:db8:91::1/64');
  const rip = (name: string): RipInterface => ({ name, ...timers });

  let b1If: string;
  let b2If: string;
  let middlePid: number | null = null;
  let middleRoutes: () => Promise<number | null> = async () => null;
  if (opts.middle === 'none') {
    b1If = shortName('l1');
    b2If = shortName('l2');
    b1.ip('link', 'add', b1If, 'type', 'veth', 'peer', 'name', b2If, 'netns', b2.name);
    addr(b1, b1If, '2001:db8:f1::1/64');
    addr(b2, b2If, '2001:db8:f1::2/64');
  } else if (opts.middle === 'bird') {
    const m = bed.netns('bm');
    m.sysctl('net.ipv6.conf.all.forwarding', '1');
    b1If = shortName('l1');
    b2If = shortName('l2');
    const m1 = shortName('m1');
    const m2 = shortName('m2');
    b1.ip('link', 'add', b1If, 'type', 'veth', 'peer', 'name', m1, 'netns', m.name);
    b2.ip('link', 'add', b2If, 'type', 'veth', 'peer', 'name', m2, 'netns', m.name);
    addr(b1, b1If, '2001:db8:f1::1/64');
    addr(m, m1, '2001:db8:f1::2/64');
    addr(m, m2, '2001:db8:f2::1/64');
    addr(b2, b2If, '2001:db8:f2::2/64');
    await linkLocal(m, m1);
    await linkLocal(m, m2);
    const bm: Bird = startBird(bed, m, '10.0.0.3', [rip(m1), rip(m2)], []);
    middlePid = bm.pid();
    middleRoutes = async () => bm.count('ripng1');
  } else {
    b1If = shortName('t6a');
    b2If = shortName('t6b');
    const r = bed.netns('r');
    const router = await startRouter(bed, r, `
interfaces:
  - name: ${b1If}
    addresses: [2001:db8:f1::2/64]
    netns: ${b1.name}
    ra: { enabled: false }
  - name: ${b2If}
    addresses: [2001:db8:f2::1/64]
    netns: ${b2.name}
    ra: { enabled: false }
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "" }
ripng:
  timers: { update: ${timers.update}, timeout: ${timers.timeout}, garbage: ${timers.garbage} }
`);
    addr(b1, b1If, '2001:db8:f1::1/64');
    addr(b2, b2If, '2001:db8:f2::2/64');
    middlePid = router.process.pid!;
    middleRoutes = async () => ((await router.ctl(['show', 'ripng', 'status'])) as { routes: { active: number } }).routes.active;
  }
  await linkLocal(b1, b1If);
  await linkLocal(b2, b2If);
  const bird1 = startBird(bed, b1, '10.0.0.1', [rip(b1If)], [stub], staticRoutes(opts.routes));
  const bird2 = startBird(bed, b2, '10.0.0.2', [rip(b2If)], []);
  await pollUntil('B2 to learn B1\'s stub over the chain', () => bird2.routes().has('2001:db8:91::/64'), 60_000, 200);
  // Everything B2 holds from RIP now (B1's stub, the links' prefixes) is the baseline.
  const baseline = bird2.count('ripng1');
  const middleIdleKiB = middlePid === null ? null : kib(middlePid, 'VmRSS');

  const started = Date.now();
  bird1.birdc('enable', 'static1');
  await pollUntil(`B2 to hold all ${opts.routes} routes from RIP`, () => bird2.count('ripng1') >= baseline + opts.routes, opts.timeoutMs ?? 300_000, 100);
  const convergeMs = Date.now() - started;
  return {
    middle: opts.middle,
    routes: opts.routes,
    convergeMs,
    middlePeakKiB: middlePid === null ? null : kib(middlePid, 'VmHWM'),
    middleIdleKiB,
    b1PeakKiB: kib(bird1.pid(), 'VmHWM'),
    b2PeakKiB: kib(bird2.pid(), 'VmHWM'),
    middleRoutes: await middleRoutes(),
  };
}

