#!/usr/bin/env python3
"""Multicast UDP sender and receiver for the multicast tests (plain sockets, RFC 3493 §5.2).

  mcast.py send IFNAME GROUP PORT COUNT HOPLIMIT SIZE SEED
      sends COUNT datagrams of SIZE bytes to [GROUP]:PORT out of IFNAME with HOPLIMIT; the
      payloads are the sequence number (4 bytes) then bytes from random.Random(SEED + n),
      printed in hex one a line (up to 1000 datagrams; a flood prints nothing).
  mcast.py recv IFNAME GROUP PORT COUNT TIMEOUT
      joins GROUP on IFNAME (IPV6_JOIN_GROUP, so the kernel sends MLD Reports), prints
      "ready", then one JSON line per datagram: {"src", "hop", "hex"} (hop from
      IPV6_HOPLIMIT ancillary data), until COUNT datagrams or TIMEOUT seconds of silence.
"""
import json
import random
import socket
import struct
import sys


def payload(n, size, seed):
    rng = random.Random(seed + n)
    return struct.pack('!I', n) + bytes(rng.getrandbits(8) for _ in range(size - 4))


def send(ifname, group, port, count, hop, size, seed):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hop)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    for n in range(count):
        data = payload(n, size, seed)
        s.sendto(data, (group, port, 0, socket.if_nametoindex(ifname)))
        if count <= 1000:
            print(data.hex(), flush=True)
    s.close()


def recv(ifname, group, port, count, timeout):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    s.bind(('::', port))
    mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack('@I', socket.if_nametoindex(ifname))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    s.settimeout(timeout)
    print('ready', flush=True)
    got = 0
    while got < count:
        try:
            data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(4))
        except socket.timeout:
            break
        hop = -1
        for level, kind, value in anc:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
                hop = struct.unpack('@i', value[:4])[0]
        print(json.dumps({'src': addr[0].split('%')[0], 'hop': hop, 'hex': data.hex()}), flush=True)
        got += 1
    s.close()


if __name__ == '__main__':
    mode, ifname, group, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == 'send':
        send(ifname, group, port, int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]))
    else:
        recv(ifname, group, port, int(sys.argv[5]), float(sys.argv[6]))
