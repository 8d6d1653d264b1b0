/**
 * The host port (`dataplane.hostInterface`): a TUN named t6host between the lanes and the
 * kernel stack of the appliance's own namespace. Traffic to the router that no control-plane
 * module handles (TCP: DNS over TCP, SSH, an HTTP API; UDP to ports nobody bound) is written
 * into it, so ordinary sockets on the appliance's namespace serve it. The router's addresses
 * are put on t6host as /128s, and a policy rule sends everything the kernel sources from them
 * back through t6host (its own table), without touching the namespace's other routes.
 */
import { spawnSync } from 'node:child_process';
import { formatIpv6 } from '../lib/addr.js';
import { closeTunTap, openTunTap, setUp, type TunTap } from '../io/tuntap.js';

export const HOST_IFNAME = 't6host';
/** The routing table for traffic the appliance's kernel sends as the router. */
export const HOST_TABLE = '1606';

function ip(args: string[], allowFailure = false): boolean {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0 && !allowFailure) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.status === 0;
}

export class HostPort {
  private readonly addresses = new Set<string>();

  private constructor(readonly dev: TunTap, readonly port: number) {}

  static open(port: number): HostPort {
    const dev = openTunTap({ name: HOST_IFNAME, kind: 'tun', queues: 1 });
    // Rules left by an earlier run that died: remove them before adding ours.
    while (ip(['-6', 'rule', 'del', 'table', HOST_TABLE], true));
    return new HostPort(dev, port);
  }

  /** Brings the kernel side up with its own default route; call once the lane holds its queue. */
  bringUp(): void {
    // The kernel should not autoconfigure on t6host: it is a pipe to turtle6, not a link.
    spawnSync('sysctl', ['-qw', `net.ipv6.conf.${HOST_IFNAME}.accept_ra=0`]);
    setUp(HOST_IFNAME);
    ip(['-6', 'route', 'replace', 'default', 'dev', HOST_IFNAME, 'table', HOST_TABLE]);
  }

  /** Makes the kernel own exactly these router addresses. */
  syncAddresses(addrs: readonly Uint8Array[]): void {
    const wanted = new Set(addrs.map((a) => formatIpv6(a)));
    for (const a of this.addresses) {
      if (wanted.has(a)) continue;
      ip(['-6', 'rule', 'del', 'from', `${a}/128`, 'table', HOST_TABLE], true);
      ip(['-6', 'addr', 'del', `${a}/128`, 'dev', HOST_IFNAME], true);
      this.addresses.delete(a);
    }
    for (const a of wanted) {
      if (this.addresses.has(a)) continue;
      ip(['-6', 'addr', 'add', `${a}/128`, 'dev', HOST_IFNAME, 'nodad']);
      ip(['-6', 'rule', 'add', 'from', `${a}/128`, 'table', HOST_TABLE]);
      this.addresses.add(a);
    }
  }

  close(): void {
    this.syncAddresses([]);
    closeTunTap(this.dev);
  }
}
