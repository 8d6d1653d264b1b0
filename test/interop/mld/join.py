"""Joins IPv6 multicast groups on an interface with IPV6_JOIN_GROUP and holds them until killed
(the kernel then leaves them: an MLDv2 CHANGE_TO_INCLUDE {} or an MLDv1 Done).
Usage: join.py IFACE GROUP [GROUP ...]"""
import signal
import socket
import struct
import sys

iface, groups = sys.argv[1], sys.argv[2:]
index = socket.if_nametoindex(iface)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for g in groups:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, g) + struct.pack('@I', index))
print('joined', flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
