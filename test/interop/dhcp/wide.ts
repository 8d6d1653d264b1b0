/**
 * Running WIDE-DHCPv6 (KAME's dhcp6c/dhcp6s) in test namespaces. WIDE keeps its DUID in the
 * compiled-in /var/lib/dhcpv6, so each instance runs under `unshare -m` with its own
 * directory bind-mounted there, and the client's DUID is written beforehand (PEERS.md).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netns, TestBed } from '../../helpers/netns.js';

export interface WideDaemon {
  readonly dir: string;
  readonly process: ChildProcess;
  log(): string;
}

/** The DUID file: a 2-byte host-order length, then the DUID bytes. */
function duidFile(duid: string): Buffer {
  const bytes = Buffer.from(duid.replace(/:/g, ''), 'hex');
  const len = Buffer.alloc(2);
  len.writeUInt16LE(bytes.length);
  return Buffer.concat([len, bytes]);
}

function spawnWide(bed: TestBed, ns: Netns, dir: string, command: string): WideDaemon {
  const child = bed.spawnIn(ns, 'unshare', ['-m', 'sh', '-c', `mount --bind ${dir}/state /var/lib/dhcpv6 && exec ${command} >${dir}/log 2>&1`]);
  return { dir, process: child, log: () => { try { return readFileSync(join(dir, 'log'), 'utf8'); } catch { return ''; } } };
}

function workDir(bed: TestBed, tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `t6-${tag}-`));
  mkdirSync(join(dir, 'state'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** dhcp6c on `ifname` with the given config text (its DUID pinned to `duid`). */
export function startDhcp6c(bed: TestBed, ns: Netns, ifname: string, duid: string, config: string): WideDaemon {
  const dir = workDir(bed, 'dhcp6c');
  writeFileSync(join(dir, 'state', 'dhcp6c_duid'), duidFile(duid));
  writeFileSync(join(dir, 'dhcp6c.conf'), config);
  return spawnWide(bed, ns, dir, `dhcp6c -f -D -c ${dir}/dhcp6c.conf -p ${dir}/dhcp6c.pid ${ifname}`);
}

/** dhcp6s serving `ifname`; `-p` moves its control port off the default so instances never collide. */
export function startDhcp6s(bed: TestBed, ns: Netns, ifname: string, config: string, controlPort: number): WideDaemon {
  const dir = workDir(bed, 'dhcp6s');
  writeFileSync(join(dir, 'dhcp6s.conf'), config);
  return spawnWide(bed, ns, dir, `dhcp6s -f -D -c ${dir}/dhcp6s.conf -P ${dir}/dhcp6s.pid -p ${controlPort} ${ifname}`);
}

/**
 * dhcp6relay from `clientIf` to `serverIf` (-r), foreground with debug output; with `server`,
 * Relay-forw goes unicast to that address (-s) instead of ff05::1:3.
 */
export function startDhcp6relay(bed: TestBed, ns: Netns, clientIf: string, serverIf: string, server?: string): WideDaemon {
  const dir = workDir(bed, 'dhcp6relay');
  return spawnWide(bed, ns, dir, `dhcp6relay -f -D -p ${dir}/dhcp6relay.pid -r ${serverIf}${server === undefined ? '' : ` -s ${server}`} ${clientIf}`);
}

/** Global addresses on an interface, without length. */
export function globalAddresses(ns: Netns, ifname: string): string[] {
  const out = ns.run('ip', ['-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'global']).stdout;
  return [...out.matchAll(/inet6 ([0-9a-f:]+)\/\d+/g)].map((m) => m[1]!);
}
