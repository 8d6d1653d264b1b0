/**
 * BIRD 2 as a RIPng peer in a test namespace: its own config, control socket and pid file
 * under a private directory (PEERS.md), started with `bird -c -s -P` (it forks by itself)
 * and queried with birdc.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand, type Netns, type TestBed } from '../../helpers/netns.js';

export interface Bird {
  readonly ns: Netns;
  readonly socket: string;
  /** `birdc show route` (or other words), as text. */
  birdc(...words: string[]): string;
  /** The prefixes of `show route` that BIRD installed (a best route of any protocol). */
  routes(): Map<string, string>;
  /** How many routes of `protocol` (ripng1, static1, …) BIRD holds as best (`show route protocol P count`). */
  count(protocol: string): number;
  /** The daemon's PID (from its pid file). */
  pid(): number;
}

export interface RipInterface {
  readonly name: string;
  /** Shortened timers (seconds) so withdrawal tests run in seconds; BIRD's defaults are 30/180/120. */
  readonly update?: number;
  readonly timeout?: number;
  readonly garbage?: number;
  /** BIRD's interface cost, added to every metric received there (default 1). */
  readonly metric?: number;
  /** RFC 2091 demand circuit (`demand circuit yes`). */
  readonly demand?: boolean;
}

/**
 * Starts BIRD in `ns` with `protocol rip ng` on `interfaces`, `protocol direct` on
 * `direct` (its stub networks), and `protocol kernel` so learned routes reach the kernel.
 * `extra` is appended (static routes for scale tests).
 */
export function startBird(bed: TestBed, ns: Netns, routerId: string, interfaces: readonly RipInterface[], direct: readonly string[], extra = ''): Bird {
  requireCommand('bird', 'bird2');
  requireCommand('birdc', 'bird2');
  const dir = mkdtempSync(join(tmpdir(), 't6bird-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'bird.conf');
  const socket = join(dir, 'bird.ctl');
  const ifaces = interfaces
    .map((i) => `  interface "${i.name}" { update time ${i.update ?? 30}; timeout time ${i.timeout ?? 180}; garbage time ${i.garbage ?? 120}; metric ${i.metric ?? 1};${i.demand ? ' demand circuit yes;' : ''} };`)
    .join('\n');
  writeFileSync(
    conf,
    `router id ${routerId};
log "${join(dir, 'bird.log')}" all;
protocol device { scan time 1; }
protocol direct { ipv6; interface ${direct.map((d) => `"${d}"`).join(', ') || '"-none-"'}; }
protocol kernel { ipv6 { export all; }; learn off; scan time 2; }
protocol rip ng ripng1 {
  ipv6 { import all; export all; };
${ifaces}
}
${extra}
`,
  );
  const pidFile = join(dir, 'bird.pid');
  ns.runOk('bird', ['-c', conf, '-s', socket, '-P', pidFile]);
  const birdc = (...words: string[]) => ns.runOk('birdc', ['-s', socket, ...words]);
  return {
    ns,
    socket,
    birdc,
    count: (protocol) => {
      // "10000 of 10000 routes for 10000 networks in table master6"
      const m = /(\d+) of \d+ routes/.exec(birdc('show', 'route', 'protocol', protocol, 'count'));
      return m ? Number(m[1]) : 0;
    },
    pid: () => Number(readFileSync(pidFile, 'utf8').trim()),
    routes: () => {
      const out = new Map<string, string>();
      let current = '';
      for (const line of birdc('show', 'route').split('\n')) {
        const m = /^([0-9a-f:]+\/\d+)\s+(.*)$/.exec(line);
        if (m) {
          current = m[1]!;
          out.set(current, m[2]!);
        } else if (current && line.trim().startsWith('via')) out.set(current, `${out.get(current)} ${line.trim()}`);
      }
      return out;
    },
  };
}
