#!/usr/bin/python3
"""A control-plane flood at a turtle6 TAP port, as fast as one Python thread can send.

One kind per run, chosen on the command line:

  scan       UDP to seeded random addresses of an on-link /64 (--scan-prefix) that no host
             holds: every one is a new neighbour for the router to resolve (RFC 6583 §4).
  multicast  UDP to ff02::1, port 9: multicast the router's control plane must look at.
  local      ICMPv6 Echo Requests to the router's own address (--router-addr).

scapy builds each frame once (Ethernet header explicit, PEERS.md); the loop then writes the
prebuilt bytes through a raw AF_PACKET socket for --seconds, since scapy's own sendp is
a thousand times slower and tcpreplay's sendpfast is not installed. The scan patches the
destination address in place, so its UDP checksums are wrong: nothing ever checks them, as
no host holds those addresses. The report is one JSON line on stdout: {"sent": N, "seconds": S}.
"""
import argparse
import ipaddress
import json
import random
import socket
import time

from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Ether

SCAN_TARGETS = 65536
DST_OFFSET = 14 + 24  # Ethernet header, then the IPv6 destination


def frames(args):
    if args.kind == 'scan':
        template = bytearray(bytes(Ether(dst=args.router_mac, src=args.host_mac) / IPv6(src=args.src, dst=args.src) / UDP(sport=40000, dport=9) / (b'\0' * 18)))
        net = ipaddress.IPv6Network(args.scan_prefix)
        rng = random.Random(args.seed)
        out = []
        for _ in range(SCAN_TARGETS):
            # Interface identifiers away from ::1 (the router) and the low addresses hosts use.
            addr = net.network_address + rng.randrange(1 << 32, 1 << 64)
            template[DST_OFFSET:DST_OFFSET + 16] = addr.packed
            out.append(bytes(template))
        return out
    if args.kind == 'multicast':
        return [bytes(Ether(dst='33:33:00:00:00:01', src=args.host_mac) / IPv6(src=args.src, dst='ff02::1') / UDP(sport=40000, dport=9) / (b'\0' * 18))]
    return [bytes(Ether(dst=args.router_mac, src=args.host_mac) / IPv6(src=args.src, dst=args.router_addr) / ICMPv6EchoRequest(id=0x7e57, seq=1, data=b'\0' * 16))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('kind', choices=['scan', 'multicast', 'local'])
    p.add_argument('--iface', required=True)
    p.add_argument('--router-mac', required=True)
    p.add_argument('--host-mac', required=True)
    p.add_argument('--src', required=True)
    p.add_argument('--router-addr', required=True)
    p.add_argument('--scan-prefix', default='')
    p.add_argument('--seconds', type=float, default=5)
    p.add_argument('--seed', type=int, default=6583)
    args = p.parse_args()
    out = frames(args)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    send = s.send
    attempts = 0
    refused = 0
    start = time.monotonic()
    deadline = start + args.seconds
    n = len(out)
    while time.monotonic() < deadline:
        for i in range(attempts, attempts + 1024):
            try:
                send(out[i % n])
            except OSError:
                # A full device queue (ENOBUFS): not sent, so not counted.
                refused += 1
        attempts += 1024
    sent = attempts - refused
    print(json.dumps({'sent': sent, 'seconds': round(time.monotonic() - start, 3)}))


if __name__ == '__main__':
    main()
