/**
 * TAP/TUN device management: opening multi-queue devices through /dev/net/tun, and the
 * iproute2/tc glue that sets them up and attaches a TAP to a kernel interface.
 *
 * Devices are opened with IFF_NO_PI (frames carry no packet-information prefix) and
 * IFF_MULTI_QUEUE (each open fd is one queue; one queue per lane, DESIGN.md), non-blocking
 * so the engines can read until EAGAIN. A device that is not persistent disappears when its
 * last queue fd is closed, which is what makes tests leave nothing behind.
 */
import { spawnSync } from 'node:child_process';
import {
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_TUN,
  IFNAMSIZ,
  IFREQ_FLAGS_OFFSET,
  IFREQ_SIZE,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  TUNSETIFF,
  check,
  close,
  ioctlPtr,
  open,
} from '../../native-bindings/libc.js';

export interface TunTapOptions {
  /** Interface name, ≤ 15 bytes; may contain "%d" for the kernel to number it. */
  readonly name: string;
  readonly kind: 'tap' | 'tun';
  /** Number of queues (fds) to open; one per lane. */
  readonly queues: number;
}

export interface TunTap {
  /** The name the kernel gave the device. */
  readonly name: string;
  readonly kind: 'tap' | 'tun';
  /** Non-blocking queue fds, one per queue. */
  readonly fds: number[];
}

/** Opens (creating if needed) a multi-queue TAP/TUN and returns one non-blocking fd per queue. */
export function openTunTap(options: TunTapOptions): TunTap {
  const { name, kind, queues } = options;
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length === 0 || nameBytes.length >= IFNAMSIZ) throw new RangeError(`interface name "${name}" must be 1..${IFNAMSIZ - 1} bytes`);
  if (!Number.isInteger(queues) || queues < 1) throw new RangeError(`queues must be a positive integer, got ${queues}`);
  const flags = (kind === 'tap' ? IFF_TAP : IFF_TUN) | IFF_NO_PI | IFF_MULTI_QUEUE;
  const fds: number[] = [];
  let actualName = name;
  try {
    for (let q = 0; q < queues; q++) {
      const fd = check('open(/dev/net/tun)', open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC));
      fds.push(fd);
      // Queues after the first name the device the kernel chose for the first ("tap%d").
      const ifr = new Uint8Array(IFREQ_SIZE);
      ifr.set(Buffer.from(actualName, 'utf8'));
      new DataView(ifr.buffer).setInt16(IFREQ_FLAGS_OFFSET, flags, true);
      check(`ioctl(TUNSETIFF, ${actualName})`, ioctlPtr(fd, TUNSETIFF, ifr));
      const end = ifr.indexOf(0);
      actualName = Buffer.from(ifr.subarray(0, end < 0 ? IFNAMSIZ : end)).toString('utf8');
    }
  } catch (e) {
    for (const fd of fds) close(fd);
    throw e;
  }
  return { name: actualName, kind, fds };
}

/** Closes every queue fd; a non-persistent device is then removed by the kernel. */
export function closeTunTap(dev: TunTap): void {
  for (const fd of dev.fds) close(fd);
  dev.fds.length = 0;
}

/** An iproute2/tc command failed; the message carries the command line and its stderr. */
export class NetCommandError extends Error {
  readonly command: string;
  readonly stderr: string;
  readonly status: number;
  constructor(command: string, status: number, stderr: string) {
    super(`${command} failed (exit ${status}): ${stderr.trim()}`);
    this.name = 'NetCommandError';
    this.command = command;
    this.stderr = stderr;
    this.status = status;
  }
}

/** Runs a network command; `netns` runs it inside that namespace (ip -n / ip netns exec). */
function runNet(cmd: 'ip' | 'tc', args: readonly string[], netns?: string): void {
  const full = netns === undefined ? [...args] : cmd === 'ip' ? ['-n', netns, ...args] : ['netns', 'exec', netns, 'tc', ...args];
  const bin = netns !== undefined && cmd === 'tc' ? 'ip' : cmd;
  const r = spawnSync(bin, full, { encoding: 'utf8' });
  const line = `${bin} ${full.join(' ')}`;
  if (r.error) throw new NetCommandError(line, 127, String(r.error));
  if (r.status !== 0) throw new NetCommandError(line, r.status ?? 128, r.stderr ?? '');
}

export interface InNetns {
  /** Namespace the device currently lives in; omitted: the current one. */
  readonly netns?: string;
}

export function setMtu(name: string, mtu: number, where: InNetns = {}): void {
  runNet('ip', ['link', 'set', 'dev', name, 'mtu', String(mtu)], where.netns);
}

export function setMac(name: string, mac: string, where: InNetns = {}): void {
  runNet('ip', ['link', 'set', 'dev', name, 'address', mac], where.netns);
}

export function setUp(name: string, where: InNetns = {}): void {
  runNet('ip', ['link', 'set', 'dev', name, 'up'], where.netns);
}

/**
 * No IPv6 address of the kernel's own on a device (no link-local, so no RS, DAD or MLD from
 * it), through netlink: where /proc/sys is read-only (a Docker container) and disable_ipv6
 * cannot be written. Takes effect when the device comes up.
 */
export function setNoKernelIpv6Addresses(name: string, where: InNetns = {}): void {
  runNet('ip', ['link', 'set', 'dev', name, 'addrgenmode', 'none'], where.netns);
}

/**
 * Moves a device into another namespace. Open queue fds stay attached, so the appliance keeps
 * its port while a kernel host in `netns` sits on the other side (DESIGN.md).
 */
export function moveToNetns(name: string, netns: string, where: InNetns = {}): void {
  runNet('ip', ['link', 'set', 'dev', name, 'netns', netns], where.netns);
}

/**
 * Glues a TAP to a kernel interface so that the appliance owns that port: every frame that
 * arrives on either device is redirected to the egress of the other. Both devices get an
 * ingress qdisc with a catch-all u32 filter (match u32 0 0) and a mirred redirect; u32 is used
 * because the matchall and flower classifiers are not built into every kernel we run on.
 * Both devices must be in the same namespace (`where`).
 */
export function attachToKernelInterface(tap: string, ifname: string, where: InNetns = {}): void {
  try {
    for (const [from, to] of [
      [tap, ifname],
      [ifname, tap],
    ] as const) {
      runNet('tc', ['qdisc', 'add', 'dev', from, 'ingress'], where.netns);
      runNet(
        'tc',
        ['filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', to],
        where.netns,
      );
    }
  } catch (e) {
    // Roll back the half that was installed so that a retry starts clean.
    detachFromKernelInterface(tap, ifname, where);
    throw e;
  }
}

/** Removes the glue attachToKernelInterface installed; missing pieces are not an error. */
export function detachFromKernelInterface(tap: string, ifname: string, where: InNetns = {}): void {
  for (const dev of [tap, ifname]) {
    try {
      runNet('tc', ['qdisc', 'del', 'dev', dev, 'ingress'], where.netns);
    } catch {
      // Already gone (never attached, or the device was deleted): nothing to undo.
    }
  }
}
