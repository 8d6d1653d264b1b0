#!/usr/bin/python3
"""A malformed-packet storm at a turtle6 TAP port, sent from the host on that port.

Three phases, chosen on the command line:

  crafted  Hand-made malformations, each labelled with the fate the RFCs give it at the
           router: the lane's counter (a drop reason, `forwarded` or `punted`) and, for a
           punted packet, the control plane's drop reason. The labels of the frames the
           kernel accepted are summed into the JSON report, so the test can compare them
           with turtle6's counters one for one.
  fuzz     N seeded random mutations of a valid Echo Request; their fates are not
           predicted, only that every one of them is counted somewhere.
  dstopts  Echo Requests to the router with an unknown Destination Option of each action.

Every frame has an explicit Ethernet header (PEERS.md) and goes out of a raw AF_PACKET
socket, so nothing in the host's stack rewrites it. The report is one JSON object on stdout.
"""
import argparse
import json
import random
import socket
import struct
import time
from collections import Counter

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RS,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6Unknown,
    IPv6,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

ETH_P_IPV6 = 0x86DD
NH_HOPOPTS, NH_DSTOPTS, NH_ICMPV6, NH_UDP = 0, 60, 58, 17
PADN4 = bytes([1, 4, 0, 0, 0, 0])


def eth(dst_mac, src_mac, ethertype, payload):
    return Ether(dst=dst_mac, src=src_mac, type=ethertype).build() + payload


def ipv6_header(src, dst, nh, payload_len, hlim=64, version=6):
    """The fixed header (RFC 8200 §3) with any Payload Length, true or not."""
    return struct.pack('!IHBB', version << 28, payload_len, nh, hlim) + socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)


def ipv6(src, dst, nh, payload, hlim=64, plen=None, version=6):
    return ipv6_header(src, dst, nh, len(payload) if plen is None else plen, hlim, version) + payload


def options_header(nh, options):
    """A Hop-by-Hop or Destination Options header around `options` (length + 2 ≡ 0 mod 8)."""
    assert (len(options) + 2) % 8 == 0, 'options must fill whole 8-octet units'
    return bytes([nh, (len(options) + 2) // 8 - 1]) + options


def chain(types, upper_nh, upper):
    """Extension headers of `types` (in order) in front of `upper`; returns (first Next Header, bytes)."""
    body = upper
    nh = upper_nh
    for t in reversed(types):
        body = options_header(nh, PADN4) + body
        nh = t
    return nh, body


def upper_bytes(layer, src, dst):
    """An upper-layer header with a checksum valid for src/dst (the pseudo-header ignores extension headers)."""
    return bytes(IPv6(src=src, dst=dst) / layer)[40:]


def echo(src, dst, seq, cksum=None):
    layer = ICMPv6EchoRequest(id=0x5717, seq=seq, data=b'turtle6 storm!!!')
    if cksum is not None:
        layer.cksum = cksum
    return upper_bytes(layer, src, dst)


def solicited_node(addr):
    raw = socket.inet_pton(socket.AF_INET6, addr)
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex('ff02' + '00' * 9 + '01ff') + raw[13:])


def multicast_mac(group):
    raw = socket.inet_pton(socket.AF_INET6, group)
    return '33:33:' + ':'.join('%02x' % b for b in raw[12:])


def crafted(a):
    """(frame, lane fate, control-plane fate or None) for each hand-made malformation."""
    rmac, hmac = a.router_mac, a.host_mac
    h1, h2, rtr, rll, hll = a.src, a.dst, a.router_addr, a.router_ll, a.host_ll
    frames = []

    def add(frame, lane, control=None):
        frames.append((frame, lane, control))

    def v6(payload_ip, dst_mac=rmac):
        return eth(dst_mac, hmac, ETH_P_IPV6, payload_ip)

    good = echo(h1, h2, 1)

    # Runts: shorter than an Ethernet header (the kernel may refuse to send these at all).
    for n in (1, 6, 13):
        add(bytes(n), 'runt')

    # Not IPv6: IPv4, ARP, LLDP, a VLAN tag in front of IPv6, and 0x86dd carrying version 4 or 0.
    add(bytes(Ether(dst=rmac, src=hmac) / IP(src='192.0.2.1', dst='192.0.2.2') / ICMP()), 'not_ipv6')
    add(bytes(Ether(dst='ff:ff:ff:ff:ff:ff', src=hmac) / ARP(psrc='192.0.2.1', pdst='192.0.2.2')), 'not_ipv6')
    add(eth('01:80:c2:00:00:0e', hmac, 0x88CC, bytes(32)), 'not_ipv6')
    add(bytes(Ether(dst=rmac, src=hmac) / Dot1Q(vlan=7, type=ETH_P_IPV6)) + ipv6(h1, h2, NH_ICMPV6, good), 'not_ipv6')
    add(v6(ipv6(h1, h2, NH_ICMPV6, good, version=4)), 'not_ipv6')
    add(v6(ipv6(h1, h2, NH_ICMPV6, good, version=0)), 'not_ipv6')

    # Truncated: EtherType IPv6 but less than the 40-byte fixed header.
    whole = ipv6(h1, h2, NH_ICMPV6, good)
    for n in (0, 1, 8, 20, 39):
        add(v6(whole[:n]), 'truncated')

    # Payload Length longer than the frame (RFC 8200 §3)...
    for plen in (len(good) + 1, len(good) + 100, 0xFFFF):
        add(v6(ipv6(h1, h2, NH_ICMPV6, good, plen=plen)), 'bad_length')
    # ...and shorter: the rest is link padding, trimmed. A router forwards what Payload Length
    # covers without judging the upper layer; to the router itself the cut ICMPv6 is junk.
    add(v6(ipv6(h1, h2, NH_ICMPV6, good, plen=len(good) - 4)), 'forwarded')
    to_router = echo(h1, rtr, 2)
    add(v6(ipv6(h1, rtr, NH_ICMPV6, to_router, plen=2)), 'punted', 'malformed')
    add(v6(ipv6(h1, rtr, NH_ICMPV6, to_router, plen=6)), 'punted', 'bad_checksum')

    # Unicast to another station's MAC.
    add(v6(whole, dst_mac='02:00:00:00:00:99'), 'other_host')
    add(v6(whole, dst_mac=hmac), 'other_host')

    # Sources that never appear on a link: multicast (RFC 4291 §2.7), loopback (§2.5.3), and
    # the unspecified address on a packet to be forwarded (§2.5.2).
    for src in ('ff02::1', 'ff0e::1', '::1', '::'):
        add(v6(ipv6(src, h2, NH_ICMPV6, echo(src, h2, 3))), 'bad_source')
    add(v6(ipv6('ff02::1', rtr, NH_ICMPV6, echo('ff02::1', rtr, 3))), 'bad_source')

    # Destinations that are never valid.
    for dst in ('::1', '::'):
        add(v6(ipv6(h1, dst, NH_ICMPV6, echo(h1, dst, 4))), 'bad_destination')

    # RFC 4007 §9: other nodes' link-local destinations, and a link-local source leaving its link.
    for dst in ('fe80::dead:beef', hll):
        add(v6(ipv6(h1, dst, NH_ICMPV6, echo(h1, dst, 5))), 'scope')
    add(v6(ipv6(hll, h2, NH_ICMPV6, echo(hll, h2, 5))), 'scope')

    # Hop limit exhausted, no route.
    for hlim in (0, 1):
        add(v6(ipv6(h1, h2, NH_ICMPV6, good, hlim=hlim)), 'hop_limit_exceeded')
    add(v6(ipv6(h1, '2001:db8:99::1', NH_ICMPV6, echo(h1, '2001:db8:99::1', 6))), 'no_route')

    # Extension header chains. A router looks only at a leading Hop-by-Hop header (RFC 8200 §4);
    # the rest belongs to the destination.
    nh, body = chain([NH_DSTOPTS] * 20, NH_ICMPV6, good)
    add(v6(ipv6(h1, h2, nh, body)), 'forwarded')
    nh, body = chain([NH_DSTOPTS, NH_HOPOPTS], NH_ICMPV6, good)  # Hop-by-Hop not first
    add(v6(ipv6(h1, h2, nh, body)), 'forwarded')
    overrun_dstopt = bytes([NH_ICMPV6, 10]) + PADN4  # claims 88 bytes, holds 8
    add(v6(ipv6(h1, h2, NH_DSTOPTS, overrun_dstopt)), 'forwarded')
    add(v6(ipv6(h1, h2, NH_HOPOPTS, options_header(NH_ICMPV6, bytes([0x1E, 4, 0, 0, 0, 0])) + good)), 'forwarded')  # action 00: skip
    # The same chains addressed to the router are its own to judge: junk to the control plane.
    to_rtr = echo(h1, rtr, 7)
    nh, body = chain([NH_DSTOPTS] * 20, NH_ICMPV6, to_rtr)
    add(v6(ipv6(h1, rtr, nh, body)), 'punted', 'malformed')
    nh, body = chain([NH_DSTOPTS, NH_HOPOPTS], NH_ICMPV6, to_rtr)
    add(v6(ipv6(h1, rtr, nh, body)), 'punted', 'malformed')
    add(v6(ipv6(h1, rtr, NH_DSTOPTS, overrun_dstopt)), 'punted', 'malformed')
    # A leading Hop-by-Hop header makes the lane walk the whole chain.
    nh, body = chain([NH_HOPOPTS] + [NH_DSTOPTS] * 20, NH_ICMPV6, good)
    add(v6(ipv6(h1, h2, nh, body)), 'ext_header_chain')  # longer than the lane's cap
    add(v6(ipv6(h1, h2, NH_HOPOPTS, bytes([NH_ICMPV6, 10]) + PADN4)), 'ext_header_chain')  # runs past the packet
    add(v6(ipv6(h1, h2, NH_HOPOPTS, b'', plen=0)), 'ext_header_chain')  # jumbogram form (RFC 2675) without its option
    nh, body = chain([NH_HOPOPTS, NH_HOPOPTS], NH_ICMPV6, good)  # §4.1: Hop-by-Hop only first
    add(v6(ipv6(h1, h2, nh, body)), 'parameter_problem')
    add(v6(ipv6(h1, h2, NH_HOPOPTS, bytes([NH_ICMPV6, 0, 1, 200, 0, 0, 0, 0]) + good)), 'parameter_problem')  # PadN overruns
    add(v6(ipv6(h1, h2, NH_HOPOPTS, bytes([NH_ICMPV6, 0, 5, 3, 0, 0, 0, 0]) + good)), 'parameter_problem')  # Router Alert length 3
    # Unknown options, by their two high-order bits (§4.2): 01 discard, 10 and 11 discard + error.
    for otype in (0x5E, 0x9E, 0xDE):
        add(v6(ipv6(h1, h2, NH_HOPOPTS, options_header(NH_ICMPV6, bytes([otype, 4, 0, 0, 0, 0])) + good)), 'parameter_problem')
    add(v6(ipv6(h1, rtr, NH_HOPOPTS, options_header(NH_ICMPV6, bytes([0x9E, 4, 0, 0, 0, 0])) + to_rtr)), 'parameter_problem')
    # Multicast's Hop-by-Hop options are processed in the lane like any packet's (RFC 8200
    # §4.3), before the group decides anything: discarded there, never punted.
    for otype in (0x9E, 0xDE):
        mc = echo(h1, 'ff02::1', 8)
        add(v6(ipv6(h1, 'ff02::1', NH_HOPOPTS, options_header(NH_ICMPV6, bytes([otype, 4, 0, 0, 0, 0])) + mc), dst_mac='33:33:00:00:00:01'), 'parameter_problem')

    # Neighbor Discovery with bad options or hop limits (RFC 4861 §6.1, §7.1, §4.6), all with
    # valid checksums, to the router's solicited-node group or all-routers.
    sn = solicited_node(rtr)
    sn_mac = multicast_mac(sn)

    def nd(layer, dst=sn, dst_mac=sn_mac, hlim=255, src=h1):
        return eth(dst_mac, hmac, ETH_P_IPV6, bytes(IPv6(src=src, dst=dst, hlim=hlim) / layer))

    mac_bytes = bytes.fromhex(hmac.replace(':', ''))
    add(nd(ICMPv6ND_NS(tgt=rtr) / Raw(bytes([1, 0]) + mac_bytes)), 'punted', 'nd_invalid')  # option length 0
    add(nd(ICMPv6ND_NS(tgt=rtr) / Raw(bytes([1, 2]) + mac_bytes)), 'punted', 'nd_invalid')  # claims 16, holds 8
    add(nd(ICMPv6ND_NS(tgt=rtr) / Raw(bytes([1]))), 'punted', 'nd_invalid')  # half an option header
    add(nd(ICMPv6ND_NS(code=1, tgt=rtr)), 'punted', 'nd_invalid')
    add(nd(ICMPv6ND_NS(tgt='ff02::1')), 'punted', 'nd_invalid')  # multicast target
    add(nd(ICMPv6Unknown(type=135, code=0, msgbody=bytes(8))), 'punted', 'nd_invalid')  # shorter than an NS
    add(nd(ICMPv6ND_RS() / Raw(bytes([1, 0]) + mac_bytes), dst='ff02::2', dst_mac='33:33:00:00:00:02'), 'punted', 'nd_invalid')
    add(nd(ICMPv6ND_NS(tgt=rtr) / ICMPv6NDOptSrcLLAddr(lladdr=hmac), hlim=254), 'punted', 'nd_hop_limit')
    add(nd(ICMPv6ND_RS(), dst='ff02::2', dst_mac='33:33:00:00:00:02', hlim=254), 'punted', 'nd_hop_limit')
    add(nd(ICMPv6ND_NA(tgt=h1, R=0, S=0, O=1) / ICMPv6NDOptSrcLLAddr(lladdr=hmac), dst='ff02::1', dst_mac='33:33:00:00:00:01', hlim=64), 'punted', 'nd_hop_limit')
    add(nd(ICMPv6ND_NS(tgt=rtr, cksum=0x1234) / ICMPv6NDOptSrcLLAddr(lladdr=hmac)), 'punted', 'bad_checksum')

    # Checksums: a wrong one, and UDP's zero checksum, which IPv6 forbids (RFC 8200 §8.1) but
    # only the destination checks.
    add(v6(ipv6(h1, rtr, NH_ICMPV6, echo(h1, rtr, 9, cksum=0x1234))), 'punted', 'bad_checksum')
    add(v6(ipv6(hll, rll, NH_ICMPV6, echo(hll, rll, 9, cksum=0x1234))), 'punted', 'bad_checksum')  # to its link-local address
    udp_bad = upper_bytes(UDP(sport=40000, dport=9, chksum=0x1234) / Raw(b'storm'), h1, rtr)
    add(v6(ipv6(h1, rtr, NH_UDP, udp_bad)), 'punted', 'bad_checksum')
    udp_zero = bytearray(upper_bytes(UDP(sport=40000, dport=9) / Raw(b'storm'), h1, rtr))
    udp_zero[6:8] = b'\x00\x00'
    add(v6(ipv6(h1, rtr, NH_UDP, bytes(udp_zero))), 'punted', 'bad_checksum')
    udp_zero_h2 = bytearray(upper_bytes(UDP(sport=40000, dport=9) / Raw(b'storm'), h1, h2))
    udp_zero_h2[6:8] = b'\x00\x00'
    add(v6(ipv6(h1, h2, NH_UDP, bytes(udp_zero_h2))), 'forwarded')
    udp_long = bytearray(upper_bytes(UDP(sport=40000, dport=9) / Raw(b'storm'), h1, rtr))
    udp_long[4:6] = struct.pack('!H', 200)  # UDP Length beyond the packet
    add(v6(ipv6(h1, rtr, NH_UDP, bytes(udp_long))), 'punted', 'malformed')
    return frames


def destination_options(a):
    """Echo Requests to the router behind a Destination Options header holding one unknown
    option of each action (RFC 8200 §4.2: 00 skip, 01 discard, 10 and 11 discard and send
    Parameter Problem code 2). Sequence number = option type; the skippable one goes last."""
    frames = []
    for otype in (0x5E, 0x9E, 0xDE, 0x1E):
        upper = echo(a.src, a.router_addr, otype)
        packet = ipv6(a.src, a.router_addr, NH_DSTOPTS, options_header(NH_ICMPV6, bytes([otype, 4, 0, 0, 0, 0])) + upper)
        frames.append((eth(a.router_mac, a.host_mac, ETH_P_IPV6, packet), 'punted', None))
    return frames


def fuzzed(a, count, seed):
    """`count` random mutations of a valid Echo Request from h1 to h2, from a seeded generator."""
    rng = random.Random(seed)
    base = eth(a.router_mac, a.host_mac, ETH_P_IPV6, ipv6(a.src, a.dst, NH_ICMPV6, echo(a.src, a.dst, 10)))
    next_headers = [0, 6, 17, 43, 44, 50, 51, 58, 59, 60, 135, 255]
    frames = []
    for _ in range(count):
        f = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(5)
            if op == 0:  # flip bits anywhere past the MAC addresses
                for _ in range(rng.randint(1, 4)):
                    f[rng.randrange(12, len(f))] ^= 1 << rng.randrange(8)
            elif op == 1:  # a random value in a fixed-header field
                start, size = rng.choice([(14, 1), (18, 2), (20, 1), (21, 1), (22, 16), (38, 16)])
                for k in range(start, min(start + size, len(f))):
                    f[k] = rng.randrange(256)
            elif op == 2:  # cut it short (never below the Ethernet header)
                del f[rng.randrange(14, len(f)):]
            elif op == 3:  # trailing junk
                f += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
            elif len(f) >= 54:  # random extension-header-like bytes behind the fixed header
                junk = bytes(rng.randrange(256) for _ in range(8 * rng.randint(1, 4)))
                f[20] = rng.choice(next_headers)
                f[54:54] = junk
                if rng.random() < 0.5:
                    struct.pack_into('!H', f, 18, len(f) - 54)
        frames.append((bytes(f[:1514]), None, None))
    return frames


# The TAP's queue holds a few hundred frames; beyond that the kernel drops what the router has
# not read yet. The storm is about what turtle6 does with junk, not about queue overflow, so
# keep at most this many frames in flight.
QUEUE_WINDOW = 128
QUEUE_DEADLINE_S = 30


def frames_taken(iface):
    """Frames the router has read from the TAP: the kernel counts them as transmitted here."""
    with open('/sys/class/net/%s/statistics/tx_packets' % iface) as f:
        return int(f.read())


def wait_for_queue_room(iface, taken_at_start, sent):
    deadline = time.monotonic() + QUEUE_DEADLINE_S
    while sent - (frames_taken(iface) - taken_at_start) >= QUEUE_WINDOW:
        if time.monotonic() > deadline:
            raise SystemExit('the router stopped reading from %s: %d frames still queued' % (iface, sent - (frames_taken(iface) - taken_at_start)))
        time.sleep(0.001)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('phase', choices=['crafted', 'fuzz', 'dstopts'])
    p.add_argument('--iface', required=True)
    p.add_argument('--router-mac', required=True)
    p.add_argument('--host-mac', required=True)
    p.add_argument('--router-addr', required=True, help="the router's global address on this link")
    p.add_argument('--router-ll', required=True)
    p.add_argument('--host-ll', required=True)
    p.add_argument('--src', required=True, help="the host's global address")
    p.add_argument('--dst', required=True, help='a global address behind the router')
    p.add_argument('--count', type=int, default=2000)
    p.add_argument('--seed', type=int, default=42)
    a = p.parse_args()

    phases = {'crafted': lambda: crafted(a), 'fuzz': lambda: fuzzed(a, a.count, a.seed), 'dstopts': lambda: destination_options(a)}
    frames = phases[a.phase]()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    lane, control, refused = Counter(), Counter(), Counter()
    sent = 0
    taken_at_start = frames_taken(a.iface)
    for frame, lane_fate, control_fate in frames:
        wait_for_queue_room(a.iface, taken_at_start, sent)
        try:
            s.send(frame)
        except OSError as e:
            refused['%s: %s' % (lane_fate or 'fuzz', e.strerror)] += 1
            continue
        sent += 1
        if lane_fate:
            lane[lane_fate] += 1
        if control_fate:
            control[control_fate] += 1
    s.close()
    print(json.dumps({'sent': sent, 'refused': refused, 'lane': lane, 'control': control}))


if __name__ == '__main__':
    main()
