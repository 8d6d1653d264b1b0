#!/usr/bin/python3
"""
Decrypts the ESP packets of a pcap (raw IPv6, LINKTYPE_RAW) with scapy's SecurityAssociation
in tunnel mode, an implementation independent of turtle6's, and prints one JSON line per
packet: its sequence number, whether it decrypted (the ICV verified) and the inner packet's
destination. Run with /usr/bin/python3 (Debian python3-scapy and python3-cryptography).
"""
import argparse
import json

from scapy.all import rdpcap
from scapy.compat import raw
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import SecurityAssociation, ESP

p = argparse.ArgumentParser()
p.add_argument('--pcap', required=True)
p.add_argument('--spi', type=lambda s: int(s, 0), required=True)
p.add_argument('--key', required=True, help='hex AES-GCM key and salt')
args = p.parse_args()

sa = SecurityAssociation(ESP, spi=args.spi, crypt_algo='AES-GCM', crypt_key=bytes.fromhex(args.key), auth_algo='NULL')
for pkt in rdpcap(args.pcap):
    ip = IPv6(raw(pkt))
    seq = ip[ESP].seq
    try:
        # Without a tunnel header scapy decrypts as in transport mode: the outer header with
        # Next Header 41 (RFC 4303 §2.6), then the inner IPv6 packet.
        inner = IPv6(raw(sa.decrypt(ip).payload))
        print(json.dumps({'seq': seq, 'ok': True, 'dst': inner.dst}), flush=True)
    except Exception as e:  # scapy raises on a failed ICV
        print(json.dumps({'seq': seq, 'ok': False, 'error': str(e)}), flush=True)
