#!/usr/bin/python3
"""Bad DHCPv6 input for issue 5, test 8: each message is sent once to ff02::1:2 port 547 from
IFACE's link-local address, and its name printed.

Usage: bad-input.py IFACE LINK_LOCAL
  truncated   a Solicit whose last option header is cut after 3 bytes
  overrun     a Solicit whose Client Identifier claims 200 bytes and carries 14
  deep-relay  a Solicit inside Relay-forw messages nested 40 deep (relays stop at HOP_COUNT_LIMIT 8, §7.6)
  dup-ia      a Solicit with two IA_NA options of the same IAID (§21.4)
  bad-duid    a Solicit whose Client Identifier is a 2-byte DUID (§11: at least the 2-byte type and more)
"""
import struct
import sys

from scapy.all import IPv6, UDP, Ether, get_if_hwaddr, sendp

DUID = bytes.fromhex('00030001020000000bad')


def option(code, body):
    return struct.pack('!HH', code, len(body)) + body


def solicit(*options, xid=b'\x00\x0b\xad'):
    return b'\x01' + xid + b''.join(options)


def relay_forw(inner, hops):
    msg = inner
    for hop in range(hops):
        msg = bytes([12, min(hop, 255)]) + bytes(16) + bytes.fromhex('fe800000000000000000000000000001') + option(9, msg)
    return msg


CLIENT_ID = option(1, DUID)
IA_NA_1 = option(3, struct.pack('!III', 1, 0, 0))

MESSAGES = {
    'truncated': solicit(CLIENT_ID, b'\x00\x03\x00'),
    'overrun': solicit(struct.pack('!HH', 1, 200) + DUID + bytes(4)),
    'deep-relay': relay_forw(solicit(CLIENT_ID, IA_NA_1), 40),
    'dup-ia': solicit(CLIENT_ID, IA_NA_1, IA_NA_1),
    'bad-duid': solicit(option(1, b'\x00\x03'), IA_NA_1),
}


def main():
    iface, link_local = sys.argv[1:3]
    mac = get_if_hwaddr(iface)
    for name, payload in MESSAGES.items():
        frame = Ether(src=mac, dst='33:33:00:01:00:02') / IPv6(src=link_local, dst='ff02::1:2', hlim=1) / UDP(sport=546, dport=547) / payload
        sendp(frame, iface=iface, verbose=False)
        print(f'{name}: {len(payload)} bytes')


main()
