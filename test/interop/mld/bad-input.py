#!/usr/bin/python3
"""Malformed and hostile MLD at a turtle6 port, sent from the host on that link with scapy.

Each case is one frame whose only fault is what its name says; each carries a canary group
(ff15::cN) that turtle6 must never list. Then one valid MLDv2 Report (ff15::c0) that must be
listed, and a source flood: Reports of ALLOW records adding 80 new sources each to ff3e::f1,
far past the router's maxSources. The test (test/interop/mld-bad-input.test.ts) holds the
expected drop reasons and compares turtle6's counters.

Prints one JSON object: the cases sent, in order, and how many flood reports.
"""
import argparse
import json

from scapy.layers.inet6 import ICMPv6MLDMultAddrRec, ICMPv6MLReport, ICMPv6MLReport2, IPv6, IPv6ExtHdrHopByHop, RouterAlert
from scapy.layers.l2 import Ether
from scapy.sendrecv import sendp

MLDV2_ROUTERS = 'ff02::16'
MLDV2_ROUTERS_MAC = '33:33:00:00:00:16'
TO_EX = 4
ALLOW = 5


def report(src, *records, hlim=1, alert=True):
    hbh = [IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])] if alert else []
    pkt = Ether(dst=MLDV2_ROUTERS_MAC) / IPv6(src=src, dst=MLDV2_ROUTERS, hlim=hlim)
    for h in hbh:
        pkt = pkt / h
    return pkt / ICMPv6MLReport2(records=list(records))


def record(group, rtype=TO_EX, sources=()):
    return ICMPv6MLDMultAddrRec(rtype=rtype, dst=group, sources=list(sources))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--iface', required=True)
    ap.add_argument('--link-local', required=True)
    ap.add_argument('--global-address', required=True)
    ap.add_argument('--flood', type=int, default=30)
    a = ap.parse_args()
    ll = a.link_local
    cases = []

    def send(name, pkt):
        sendp(pkt, iface=a.iface, verbose=0)
        cases.append(name)

    send('global_source', report(a.global_address, record('ff15::c1')))
    send('hop_limit_2', report(ll, record('ff15::c2'), hlim=2))
    send('no_router_alert', report(ll, record('ff15::c3'), alert=False))
    # A record header claiming 2 sources with only one present: the record overruns the
    # message (IPv6 length and checksum are right for what is there).
    short = record('ff15::c4', sources=['2001:db8::1'])
    short.sources_number = 2
    send('truncated_record', report(ll, short))
    # A record claiming 4000 sources (64000 octets) in a 1500-octet frame.
    raw = bytearray(bytes(report(ll, record('ff15::c5', sources=['2001:db8::%x' % i for i in range(60)]))))
    icmp = 14 + 40 + 8
    raw[icmp + 8 + 2:icmp + 8 + 4] = (4000).to_bytes(2, 'big')
    fixed = Ether(bytes(raw))
    del fixed[ICMPv6MLReport2].cksum
    send('thousands_of_sources_claimed', Ether(bytes(fixed)))
    bad = bytearray(bytes(report(ll, record('ff15::c6'))))
    bad[icmp + 2] ^= 0xff
    send('bad_checksum', Ether(bytes(bad)))
    # MLDv1 Report from a global source, and MLDv1 with hop limit 2.
    send('v1_global_source', Ether(dst='33:33:00:00:00:c7') / IPv6(src=a.global_address, dst='ff15::c7', hlim=1) / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)]) / ICMPv6MLReport(mladdr='ff15::c7'))
    send('valid', report(ll, record('ff15::c0')))
    for n in range(a.flood):
        srcs = ['2001:db8:f:%x::%x' % (n, i) for i in range(80)]
        sendp(report(ll, record('ff3e::f1', rtype=ALLOW, sources=srcs)), iface=a.iface, verbose=0)
    print(json.dumps({'sent': cases, 'flood': a.flood}))


main()
