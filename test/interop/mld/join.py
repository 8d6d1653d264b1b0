"""Joins IPv6 multicast groups on an interface and holds them until killed (the kernel then
leaves them: an MLDv2 CHANGE_TO_INCLUDE {} or BLOCK, or an MLDv1 Done).
A GROUP is joined for every source (IPV6_JOIN_GROUP); GROUP@SOURCE for that source only
(MCAST_JOIN_SOURCE_GROUP, RFC 3678: an MLDv2 INCLUDE record).
Usage: join.py IFACE GROUP|GROUP@SOURCE ..."""
import signal
import socket
import struct
import sys

MCAST_JOIN_SOURCE_GROUP = 46  # linux/in.h


def sockaddr_storage(addr):
    sin6 = struct.pack('@HHI16sI', socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, addr), 0)
    return sin6 + bytes(128 - len(sin6))


iface, groups = sys.argv[1], sys.argv[2:]
index = socket.if_nametoindex(iface)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for g in groups:
    if '@' in g:
        group, source = g.split('@')
        # struct group_source_req: interface, then two sockaddr_storage aligned to 8.
        req = struct.pack('@I', index) + bytes(4) + sockaddr_storage(group) + sockaddr_storage(source)
        s.setsockopt(socket.IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, req)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, g) + struct.pack('@I', index))
print('joined', flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
