/**
 * ICMPv6 Redirect generation for the lanes (RFC 4861 §8.2): when a packet leaves by the port
 * it came in on, a better first hop sits on the sender's own link, and the router tells the
 * sender so. The packet is still forwarded. The lane rate-limits what this builds with its
 * ICMPv6 error bucket (§8.2 asks for a limit and points at RFC 4443 §2.4(f)).
 *
 * Per packet and allocation-free, like the rest of the lane.
 */
import { equalAddress, isLinkLocal } from '../lib/addr.js';
import { NH_CONNECTED, NH_GATEWAY, type FibView } from '../shm/fib.js';
import { NBR_INCOMPLETE, type NeighborView } from '../shm/neighbors.js';
import { PORT_KIND_TAP, type PortTableView } from '../shm/port-table.js';
import { IPPROTO, IPV6_HEADER_LEN, IP6_OFF_DST, IP6_OFF_NEXT_HEADER, IP6_OFF_SRC } from '../wire/ipv6.js';
import { writeRedirect } from '../wire/icmpv6.js';

/** Whether a Routing header comes before the upper layer (behind Hop-by-Hop or Destination Options). */
function sourceRouted(b: Uint8Array, ip: number, ipLen: number): boolean {
  let next = b[ip + IP6_OFF_NEXT_HEADER]!;
  let at = ip + IPV6_HEADER_LEN;
  const end = ip + ipLen;
  while ((next === IPPROTO.HOPOPTS || next === IPPROTO.DSTOPTS) && at + 8 <= end) {
    next = b[at]!;
    at += (b[at + 1]! + 1) * 8;
  }
  return next === IPPROTO.ROUTING;
}

/**
 * §8.2's conditions, for a packet that nexthop `nh` sends back out of its ingress `port`:
 *   - the port sends Redirects (`interfaces[].redirects`, tap ports);
 *   - the source is a neighbour on that link: a link-local address, or one inside a prefix
 *     on-link on the port (its FIB route is connected there);
 *   - the packet is not source routed (no Routing header);
 *   - the better first hop is the destination itself (a connected route) or a router named
 *     by its link-local address, as the host's checks require (§8.1), and not the source.
 * The packet is a forwarded one, so it was not addressed to the router.
 */
export function shouldRedirect(b: Uint8Array, ip: number, ipLen: number, port: number, nh: number, fib: FibView, ports: PortTableView): boolean {
  if (!ports.redirects(port)) return false;
  const kind = fib.nexthopKind(nh);
  const src = ip + IP6_OFF_SRC;
  if (kind === NH_GATEWAY) {
    const gateway = fib.gatewayOffset(nh);
    if (!isLinkLocal(fib.bytes, gateway) || equalAddress(fib.bytes, b, gateway, src)) return false;
  } else if (kind !== NH_CONNECTED) {
    return false;
  }
  if (!isLinkLocal(b, src)) {
    const route = fib.lookup(b, src);
    if (route < 0 || fib.nexthopKind(route) !== NH_CONNECTED || fib.nexthopPort(route) !== port) return false;
  }
  return !sourceRouted(b, ip, ipLen);
}

/**
 * Writes the Redirect about the packet at b[ip, ip + ipLen) (as received, before its hop
 * limit is decremented) at b[out]: from the router's link-local address on `port`, to the
 * packet's source; target the gateway of `nh`, or the destination when it is on-link; with
 * the target's MAC when the neighbour table has it. Returns the bytes written.
 */
export function writeRedirectAbout(b: Uint8Array, out: number, ip: number, ipLen: number, port: number, nh: number, fib: FibView, ports: PortTableView, nbr: NeighborView): number {
  const viaGateway = fib.nexthopKind(nh) === NH_GATEWAY;
  const targetBytes = viaGateway ? fib.bytes : b;
  const targetOff = viaGateway ? fib.gatewayOffset(nh) : ip + IP6_OFF_DST;
  const e = ports.kind(port) === PORT_KIND_TAP ? nbr.lookup(port, targetBytes, targetOff) : -1;
  const macOff = e >= 0 && nbr.state(e) !== NBR_INCOMPLETE ? nbr.macOffset(e) : -1;
  return writeRedirect(b, out, ports.bytes, ports.linkLocalOffset(port), b, ip + IP6_OFF_SRC, targetBytes, targetOff, b, ip + IP6_OFF_DST, nbr.bytes, macOff, b, ip, ipLen);
}
