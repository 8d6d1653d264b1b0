#!/usr/bin/python3
"""Malformed and hostile RIPng responses at a turtle6 port, sent from the host on that link.

Each case is one frame to ff02::9 (RFC 2080 §2.4.2 lists the checks it must fail). Cases
that must be dropped whole carry a "canary" route that must never be learned; cases that
break a single RTE also carry a valid route, which must be learned (turtle6, like BIRD,
skips the bad entry and uses the rest). The test (test/interop/ripng-bad-input.test.ts)
holds the expected reason of each case and compares turtle6's counters one for one.

Every frame has an explicit Ethernet header (PEERS.md: multicast goes out with sendp) and
a correct UDP checksum, so the only thing wrong with each is what the case names.
Prints one JSON object: the case names in the order they were sent.
"""
import argparse
import json

from scapy.contrib.ripng import RIPng, RIPngEntry
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.sendrecv import sendp

RIPNG_GROUP = 'ff02::9'
RIPNG_GROUP_MAC = '33:33:00:00:00:09'
RESPONSE = 2
NEXT_HOP_METRIC = 0xFF


def route(prefix, plen, metric=1, tag=0):
    return RIPngEntry(prefix_or_nh=prefix, routetag=tag, prefixlen=plen, metric=metric)


def response(src, *rtes, sport=521, hlim=255, trailer=b''):
    body = RIPng(cmd=RESPONSE, ver=1)
    for rte in rtes:
        body = body / rte
    if trailer:
        body = body / Raw(trailer)
    return Ether(dst=RIPNG_GROUP_MAC) / IPv6(src=src, dst=RIPNG_GROUP, hlim=hlim) / UDP(sport=sport, dport=521) / body


def cases(ll, global_addr):
    """(name, frame) in sending order; `ll` is the sender's link-local address."""
    return [
        # Whole-message drops (§2.4.2), in the order turtle6 checks them.
        ('wrong_source_port', response(ll, route('2001:db8:a1::', 64), sport=520)),
        ('global_source', response(global_addr, route('2001:db8:a2::', 64))),
        ('hop_limit_254', response(ll, route('2001:db8:a3::', 64), hlim=254)),
        # One whole RTE and 19 bytes of a second: not a multiple of the RTE size.
        ('truncated_rte', response(ll, route('2001:db8:a4::', 64), trailer=b'\x20\x01\x0d\xb8' + b'\x00' * 15)),
        # Per-RTE rejections: the bad entry is skipped, the valid one beside it is learned.
        ('prefix_length_129', response(ll, route('2001:db8:a5::', 129), route('2001:db8:b5::', 64))),
        ('metric_0', response(ll, route('2001:db8:a6::', 64, metric=0), route('2001:db8:b6::', 64))),
        ('metric_17', response(ll, route('2001:db8:a7::', 64, metric=17), route('2001:db8:b7::', 64))),
        ('link_local_prefix', response(ll, route('fe80::', 64), route('2001:db8:b8::', 64))),
        ('multicast_prefix', response(ll, route('ff0e::', 16), route('2001:db8:ba::', 64))),
        # §2.1.1: a next hop that is not link-local is treated as ::, i.e. the sender.
        ('next_hop_global', response(ll, route('2001:db8:12::99', 0, metric=NEXT_HOP_METRIC), route('2001:db8:b9::', 64, metric=2))),
        # A clean message last: proof that the router still listens after all of the above.
        ('valid', response(ll, route('2001:db8:b0::', 64, metric=3, tag=0x1234))),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--iface', required=True, help='the link to the router (its TAP, seen from the host)')
    ap.add_argument('--link-local', required=True, help="the host's link-local address on --iface")
    ap.add_argument('--global-address', required=True, help="the host's global address on --iface")
    args = ap.parse_args()
    sent = []
    for name, frame in cases(args.link_local, args.global_address):
        sendp(frame, iface=args.iface, verbose=False)
        sent.append(name)
    print(json.dumps({'sent': sent}))


if __name__ == '__main__':
    main()
