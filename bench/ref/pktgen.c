/*
 * pktgen: keeps a TUN's read queue full for bench/io-engines.ts, as cheaply as the kernel
 * allows, so that the engine under test and not the generator sets the pace.
 *
 * A local UDP socket pays for routing and the UDP/IPv6 output path on every datagram (it
 * managed only ~0.3 Mpps here). Instead this writes pre-built 64-byte IPv6/UDP packets with
 * an AF_PACKET socket bound to the TUN, 64 per sendmmsg(2), with PACKET_QDISC_BYPASS: each
 * packet goes straight to the driver's transmit routine, i.e. into the queue the engine reads.
 *
 *   pktgen <ifname>    (runs until killed; prints "sending" once started)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define PACKET_BYTES 64

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: pktgen <ifname>\n");
		return 2;
	}
	unsigned ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		perror("pktgen: if_nametoindex");
		return 1;
	}
	/* Protocol 0: a send-only socket. With ETH_P_IPV6 here the kernel would also hand this
	 * socket a clone of every IPv6 packet in the namespace, charging the engine under test
	 * for packet_rcv on each packet it writes. */
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("pktgen: socket");
		return 1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		perror("pktgen: PACKET_QDISC_BYPASS (continuing through the qdisc)");
	struct sockaddr_ll to;
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_protocol = htons(ETH_P_IPV6);
	to.sll_ifindex = (int)ifindex;

	/* IPv6 fd00:b0::1 -> fd00:b0::2, UDP 5000 -> 9, 16 payload bytes. The UDP checksum is
	 * left zero: nothing on the path verifies it (the engine forwards blindly and the
	 * kernel drops the packet on the far TUN before any transport processing). */
	static unsigned char pkt[PACKET_BYTES];
	pkt[0] = 0x60;
	pkt[4] = 0;
	pkt[5] = PACKET_BYTES - 40; /* payload length */
	pkt[6] = 17;                /* next header: UDP */
	pkt[7] = 64;                /* hop limit */
	inet_pton(AF_INET6, "fd00:b0::1", pkt + 8);
	inet_pton(AF_INET6, "fd00:b0::2", pkt + 24);
	pkt[40] = 5000 >> 8;
	pkt[41] = 5000 & 0xff;
	pkt[43] = 9;
	pkt[45] = PACKET_BYTES - 40; /* UDP length */

	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = pkt;
		iov[i].iov_len = sizeof(pkt);
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	printf("sending\n");
	fflush(stdout);
	for (;;) {
		/* A full TUN queue drops silently; an error such as ENOBUFS means the same, so
		 * yield and go on. */
		if (sendmmsg(fd, msgs, BATCH, 0) < 0)
			sched_yield();
	}
}
