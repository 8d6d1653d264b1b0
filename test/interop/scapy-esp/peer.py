#!/usr/bin/python3
"""
An ESP peer for turtle6, built on scapy's SecurityAssociation (an implementation independent
of turtle6's). It owns one Ethernet link by itself (the kernel's IPv6 is disabled on it): it
answers Neighbor Solicitations for its address, and

  tunnel mode:    decrypts ESP from the router, checks the inner packet is for a host behind
                  the peer (--behind), answers ICMPv6 Echo Requests and echoes UDP, and sends
                  the answer back encrypted;
  transport mode: pings the router's own address (--ping N) under ESP and checks the
                  router's echo replies come back under ESP, decrypted and verified.

Every event is a JSON line on stdout; "ready" once sniffing has started, "done" at the end.
Run with /usr/bin/python3 (Debian python3-scapy and python3-cryptography).
"""
import argparse
import json
import signal
import sys
import threading
import time

from scapy.all import AsyncSniffer, sendp, get_if_hwaddr, conf
from scapy.compat import raw
from scapy.layers.l2 import Ether
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (IPv6, ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr,
                                ICMPv6EchoRequest, ICMPv6EchoReply)
from scapy.layers.ipsec import SecurityAssociation, ESP

p = argparse.ArgumentParser()
p.add_argument('--iface', required=True)
p.add_argument('--addr', required=True, help="the peer's own address on the link")
p.add_argument('--router', required=True, help="the router's address on the link")
p.add_argument('--router-mac', required=True)
p.add_argument('--mode', choices=['tunnel', 'transport'], required=True)
p.add_argument('--alg', choices=['gcm', 'cbc'], required=True)
p.add_argument('--spi-in', type=lambda s: int(s, 0), required=True, help='SPI of the SA the router sends with')
p.add_argument('--spi-out', type=lambda s: int(s, 0), required=True, help='SPI of the SA the peer sends with')
p.add_argument('--key-in', required=True, help='hex encryption key (GCM: key and salt)')
p.add_argument('--key-out', required=True)
p.add_argument('--auth-in', default='', help='hex HMAC-SHA-256 key (CBC)')
p.add_argument('--auth-out', default='')
p.add_argument('--behind', help='tunnel mode: the address of a host behind the peer')
p.add_argument('--ping', type=int, default=0, help='transport mode: echo requests to send to the router')
p.add_argument('--timeout', type=float, default=30)
args = p.parse_args()

conf.verb = 0
MAC = get_if_hwaddr(args.iface)


def emit(event, **fields):
    print(json.dumps({'event': event, **fields}), flush=True)


def make_sa(spi, key, auth, tunnel_src, tunnel_dst):
    crypt = 'AES-GCM' if args.alg == 'gcm' else 'AES-CBC'
    auth_algo = 'NULL' if args.alg == 'gcm' else 'SHA2-256-128'
    header = IPv6(src=tunnel_src, dst=tunnel_dst) if args.mode == 'tunnel' else None
    return SecurityAssociation(ESP, spi=spi, crypt_algo=crypt, crypt_key=bytes.fromhex(key),
                               auth_algo=auth_algo, auth_key=bytes.fromhex(auth) if auth else None,
                               tunnel_header=header)


sa_in = make_sa(args.spi_in, args.key_in, args.auth_in, args.router, args.addr)
sa_out = make_sa(args.spi_out, args.key_out, args.auth_out, args.addr, args.router)
lock = threading.Lock()
seqs = []
replies = set()
failures = []


def send_protected(inner):
    # scapy numbers the packets of sa_out itself, from 1.
    with lock:
        enc = sa_out.encrypt(IPv6(raw(inner)))
    sendp(Ether(src=MAC, dst=args.router_mac) / enc, iface=args.iface)


def on_ns(pkt):
    ns = pkt[ICMPv6ND_NS]
    if ns.tgt != args.addr:
        return
    src = pkt[IPv6].src
    dst = src if src != '::' else 'ff02::1'
    # RFC 4861 §7.2.4: solicited, override, with our link-layer address.
    na = (Ether(src=MAC, dst=pkt[Ether].src) / IPv6(src=args.addr, dst=dst, hlim=255) /
          ICMPv6ND_NA(tgt=args.addr, R=0, S=1 if src != '::' else 0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=MAC))
    sendp(na, iface=args.iface)
    emit('na', to=src)


def on_esp(pkt):
    ip = pkt[IPv6]
    esp = ip[ESP]
    spi, seq = esp.spi, esp.seq
    if spi != args.spi_in:
        failures.append(f'unexpected SPI {spi:#x}')
        emit('bad-spi', spi=spi)
        return
    try:
        with lock:
            inner = sa_in.decrypt(IPv6(raw(ip)))
    except Exception as e:  # scapy raises on a failed ICV
        failures.append(f'decrypt failed for seq {seq}: {e}')
        emit('decrypt-failed', seq=seq, error=str(e))
        return
    seqs.append(seq)
    if args.mode == 'tunnel':
        if not args.behind or inner.dst != args.behind:
            failures.append(f'inner packet for {inner.dst}, not {args.behind}')
            return
        if ICMPv6EchoRequest in inner:
            rq = inner[ICMPv6EchoRequest]
            emit('esp', spi=spi, seq=seq, inner='echo-request', src=inner.src, dst=inner.dst, hlim=inner.hlim)
            send_protected(IPv6(src=inner.dst, dst=inner.src, hlim=64) / ICMPv6EchoReply(id=rq.id, seq=rq.seq, data=rq.data))
        elif UDP in inner:
            u = inner[UDP]
            emit('esp', spi=spi, seq=seq, inner='udp', src=inner.src, dst=inner.dst, dport=u.dport, payload=raw(u.payload).decode('latin-1'))
            send_protected(IPv6(src=inner.dst, dst=inner.src, hlim=64) / UDP(sport=u.dport, dport=u.sport) / raw(u.payload))
        else:
            emit('esp', spi=spi, seq=seq, inner='other', summary=inner.summary())
    else:
        if inner.src != args.router or inner.dst != args.addr or ICMPv6EchoReply not in inner:
            failures.append(f'unexpected transport payload {inner.summary()}')
            emit('esp', spi=spi, seq=seq, inner='other', summary=inner.summary())
            return
        rp = inner[ICMPv6EchoReply]
        ok = rp.id == 0x7e57 and rp.data == b'turtle6 transport %d' % rp.seq
        if not ok:
            failures.append(f'echo reply {rp.seq} does not match its request')
        replies.add(rp.seq)
        emit('esp', spi=spi, seq=seq, inner='echo-reply', id=rp.id, echoSeq=rp.seq, ok=ok)


def on_frame(pkt):
    if Ether not in pkt or pkt[Ether].src == MAC or IPv6 not in pkt:
        return
    if ICMPv6ND_NS in pkt:
        on_ns(pkt)
    elif pkt[IPv6].nh == 50 and pkt[IPv6].dst == args.addr:
        on_esp(pkt)


ready = threading.Event()
sniffer = AsyncSniffer(iface=args.iface, prn=on_frame, store=False, started_callback=ready.set)
sniffer.start()
ready.wait(10)
emit('ready', mac=MAC)

deadline = time.time() + args.timeout
if args.mode == 'transport':
    for i in range(args.ping):
        send_protected(IPv6(src=args.addr, dst=args.router, hlim=64) /
                       ICMPv6EchoRequest(id=0x7e57, seq=i, data=b'turtle6 transport %d' % i))
        emit('sent', echoSeq=i)
        # One at a time: the first request also waits for the router to resolve our address.
        while i not in replies and time.time() < deadline:
            time.sleep(0.02)
    sniffer.stop()
else:
    # Tunnel mode answers until the test ends it (SIGTERM) or the timeout passes.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set() and time.time() < deadline:
        stop.wait(0.1)
    sniffer.stop()

increasing = all(a < b for a, b in zip(seqs, seqs[1:]))
if not increasing:
    failures.append(f'sequence numbers not strictly increasing: {seqs}')
if args.mode == 'transport' and len(replies) != args.ping:
    failures.append(f'{len(replies)} of {args.ping} echo replies came back under ESP')
emit('done', seqs=seqs, failures=failures)
sys.exit(1 if failures else 0)
