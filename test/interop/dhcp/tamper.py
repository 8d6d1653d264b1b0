#!/usr/bin/python3
"""Replays and tampers with an authenticated DHCPv6 client message (issue 5, test 2).

Usage: tamper.py PCAP IFACE MODE
  PCAP   a capture of the client's traffic; the last client message carrying a delayed-auth
         MAC (option 11 longer than 11 bytes) is the one used
  MODE   replay:  sent unchanged (its replay detection value was already accepted)
         flip:    one byte of the transaction-id flipped, the MAC left as it was
         strip:   the Authentication option removed
The frame goes out of IFACE as captured (same Ethernet and IPv6 addresses), UDP checksum
recomputed.
"""
import sys

from scapy.all import IPv6, UDP, Ether, rdpcap, sendp


def options(payload):
    at = 4
    while at + 4 <= len(payload):
        code = int.from_bytes(payload[at:at + 2], 'big')
        length = int.from_bytes(payload[at + 2:at + 4], 'big')
        yield at, code, length
        at += 4 + length


def authenticated(pkt):
    if UDP not in pkt or pkt[UDP].dport != 547:
        return False
    payload = bytes(pkt[UDP].payload)
    return any(code == 11 and length > 11 for _, code, length in options(payload))


def main():
    pcap, iface, mode = sys.argv[1:4]
    candidates = [p for p in rdpcap(pcap) if authenticated(p)]
    if not candidates:
        sys.exit('no authenticated client message in the capture')
    pkt = candidates[-1]
    payload = bytearray(bytes(pkt[UDP].payload))
    if mode == 'flip':
        payload[1] ^= 0x5A
    elif mode == 'strip':
        for at, code, length in options(bytes(payload)):
            if code == 11:
                del payload[at:at + 4 + length]
                break
    elif mode != 'replay':
        sys.exit(f'unknown mode {mode}')
    frame = Ether(src=pkt[Ether].src, dst=pkt[Ether].dst) / IPv6(src=pkt[IPv6].src, dst=pkt[IPv6].dst, hlim=pkt[IPv6].hlim) / UDP(sport=546, dport=547) / bytes(payload)
    sendp(frame, iface=iface, verbose=False)
    print(f'{mode}: sent message type {payload[0]} of {len(payload)} bytes')


main()
