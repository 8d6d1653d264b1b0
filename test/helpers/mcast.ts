/**
 * Multicast senders and receivers in namespaces (test/e2e/mcast/mcast.py, plain sockets):
 * the receiver joins with IPV6_JOIN_GROUP and reports each datagram's bytes and hop limit.
 */
import { resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { pollUntil, type Netns, type TestBed } from './netns.js';

const MCAST = resolve('test/e2e/mcast/mcast.py');

/** `turtle6ctl show mfc --json`. */
export interface ShownMfc {
  entries: Array<{ source: string; group: string; in: string | null; rpf: boolean; out: string[]; packets: number; bytes: number; wrongInterface: number }>;
}

export interface Received {
  readonly src: string;
  readonly hop: number;
  readonly hex: string;
}

export interface Receiver {
  /** Datagrams received so far. */
  received(): Received[];
  /** Resolves once `count` datagrams arrived (or throws after timeoutMs). */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
}

/** Joins `group` on `ifname` in `ns` and collects datagrams to `port`; resolves once joined. */
export async function startReceiver(bed: TestBed, ns: Netns, ifname: string, group: string, port: number, count: number): Promise<Receiver> {
  const child: ChildProcess = bed.spawnIn(ns, 'python3', [MCAST, 'recv', ifname, group, String(port), String(count), '60']);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await pollUntil(`the receiver on ${ns.name}/${ifname} to join ${group}`, () => {
    if (child.exitCode !== null) throw new Error(`receiver exited: ${err}`);
    return out.startsWith('ready\n');
  }, 10_000);
  const received = (): Received[] =>
    out
      .split('\n')
      .slice(1)
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Received);
  return {
    received,
    waitFor: async (n, timeoutMs = 10_000) => {
      await pollUntil(`${n} datagrams to ${group} on ${ns.name}/${ifname}`, () => received().length >= n, timeoutMs);
      return received();
    },
  };
}

/** Sends `count` datagrams of `size` bytes to [group]:port out of `ifname`; returns their bytes in hex (for up to 1000). */
export function sendMulticast(ns: Netns, ifname: string, group: string, port: number, count: number, hopLimit: number, size = 200, seed = 1): string[] {
  return ns
    .runOk('python3', [MCAST, 'send', ifname, group, String(port), String(count), String(hopLimit), String(size), String(seed)])
    .split('\n')
    .filter((l) => l.length > 0);
}
