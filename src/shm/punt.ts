/**
 * Flags carried in the meta words of the punt ring (lane → control plane) and the inject
 * ring (control plane → lane). Both rings copy packets inline: control traffic is rare, so a
 * copy is cheaper than tracking slot ownership across threads (see docs/ARCHITECTURE.md).
 *
 * Punt entry:  slot = egress port (for PUNT_RESOLVE) or -1, len, port = ingress port, flags.
 *              Data: the IPv6 packet (link header removed).
 * Inject entry: slot unused, len, port = egress port, flags. Data: see INJECT_*.
 */

/** Addressed to one of the router's unicast addresses. */
export const PUNT_LOCAL = 1 << 0;
/** Multicast destination (ND, MLD, RIPng, DHCPv6, ...). */
export const PUNT_MULTICAST = 1 << 1;
/** Forwardable, but the next hop has no usable neighbour entry: queue and resolve (RFC 4861 §7.2.2). */
export const PUNT_RESOLVE = 1 << 2;
/** Hop-by-hop Router Alert (RFC 2711): the control plane looks at it before forwarding. */
export const PUNT_ROUTER_ALERT = 1 << 3;

/** Data is a complete link-layer frame: write it as is. */
export const INJECT_RAW = 1 << 0;
/** Data is an IPv6 packet originated by the router: route it (FIB, neighbour, rewrite), hop limit untouched. */
export const INJECT_ROUTE = 1 << 1;
