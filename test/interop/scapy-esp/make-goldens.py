#!/usr/bin/python3
"""
Golden ESP packets from an independent implementation: scapy's SecurityAssociation
(Debian python3-scapy 2.5.0 over python3-cryptography). Run with /usr/bin/python3; it
writes goldens.json next to itself. Every case is a whole IPv6 packet carrying ESP, with
the keys and the inner packet turtle6 must recover (test/wire/esp-scapy.test.ts).

Fixed IVs make the output reproducible; scapy would otherwise draw them at random.
"""
import json
import os
from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest
from scapy.layers.inet import UDP
from scapy.layers.ipsec import SecurityAssociation, ESP
from scapy.compat import raw

GCM128 = bytes.fromhex('4a4b4c4d4e4f505152535455565758590a0b0c0d')
GCM256 = bytes.fromhex('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeffcafebabe')
CBC128 = bytes.fromhex('0102030405060708090a0b0c0d0e0f10')
CBC256 = bytes.fromhex('1112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30')
HMAC = bytes.fromhex('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf')

OUTER = IPv6(src='2001:db8:ffff::1', dst='2001:db8:ffff::2', hlim=64)
INNERS = {
    'icmp': IPv6(src='2001:db8:1::10', dst='2001:db8:2::20', hlim=63) / ICMPv6EchoRequest(id=0x1234, seq=7, data=b'turtle6 esp golden'),
    'udp': IPv6(src='2001:db8:1::10', dst='2001:db8:2::20', hlim=63) / UDP(sport=4000, dport=7) / (b'x' * 37),
}

CASES = [
    # name, encryption, key, integrity, auth key, mode, inner, seq, esn (high half or None), iv
    ('gcm128-tunnel-icmp', 'aes-gcm-128', 'AES-GCM', GCM128, 'none', None, None, 'tunnel', 'icmp', 1, None, bytes.fromhex('0001020304050607')),
    ('gcm128-transport-udp', 'aes-gcm-128', 'AES-GCM', GCM128, 'none', None, None, 'transport', 'udp', 42, None, bytes.fromhex('a1a2a3a4a5a6a7a8')),
    ('gcm256-tunnel-udp', 'aes-gcm-256', 'AES-GCM', GCM256, 'none', None, None, 'tunnel', 'udp', 3, None, bytes.fromhex('1111111122222222')),
    ('gcm128-esn-tunnel-icmp', 'aes-gcm-128', 'AES-GCM', GCM128, 'none', None, None, 'tunnel', 'icmp', 5, 1, bytes.fromhex('0000000100000005')),
    ('cbc128-tunnel-icmp', 'aes-cbc-128', 'AES-CBC', CBC128, 'hmac-sha256-128', 'SHA2-256-128', HMAC, 'tunnel', 'icmp', 1, None, bytes.fromhex('000102030405060708090a0b0c0d0e0f')),
    ('cbc128-transport-icmp', 'aes-cbc-128', 'AES-CBC', CBC128, 'hmac-sha256-128', 'SHA2-256-128', HMAC, 'transport', 'icmp', 9, None, bytes.fromhex('f0e0d0c0b0a090807060504030201000')),
    ('cbc256-transport-udp', 'aes-cbc-256', 'AES-CBC', CBC256, 'hmac-sha256-128', 'SHA2-256-128', HMAC, 'transport', 'udp', 77, None, bytes.fromhex('00112233445566778899aabbccddeeff')),
    ('null-transport-udp', 'null', 'NULL', b'', 'hmac-sha256-128', 'SHA2-256-128', HMAC, 'transport', 'udp', 2, None, b''),
]

out = []
for name, enc, scapy_enc, key, integ, scapy_auth, auth_key, mode, inner_name, seq, esn, iv in CASES:
    inner = INNERS[inner_name]
    if mode == 'transport':
        inner = IPv6(src=str(OUTER.src), dst=str(OUTER.dst), hlim=64) / inner.payload
    sa = SecurityAssociation(
        ESP, spi=0x1000, seq_num=seq, crypt_algo=scapy_enc, crypt_key=key or None,
        auth_algo=scapy_auth, auth_key=auth_key,
        tunnel_header=OUTER if mode == 'tunnel' else None,
        esn_en=esn is not None, esn=esn or 0)
    pkt = sa.encrypt(IPv6(raw(inner)), iv=iv)
    wire = raw(pkt)
    # The peer must be able to read its own packet back.
    back = sa.decrypt(IPv6(wire))
    assert raw(back) == raw(IPv6(raw(inner))), name
    out.append({
        'name': name, 'encryption': enc, 'encKey': key.hex(), 'integrity': integ,
        'authKey': (auth_key or b'').hex(), 'mode': mode, 'spi': 0x1000,
        'seq': seq, 'seqHi': esn or 0, 'esn': esn is not None,
        'packet': wire.hex(), 'inner': raw(inner).hex(),
    })

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, 'goldens.json'), 'w') as f:
    json.dump({'provenance': 'scapy 2.5.0 SecurityAssociation (python3-scapy, Debian 12), test/interop/scapy-esp/make-goldens.py', 'cases': out}, f, indent=1)
    f.write('\n')
print(len(out), 'cases')
