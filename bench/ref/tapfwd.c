/*
 * tapfwd: reference (a) of the forwarding benchmark (bench/forwarding.ts). The plainest
 * userspace IPv6 forwarder between two TAPs: one read(2) and one write(2) per packet.
 *
 *   tapfwd <in-tap> <out-tap> <next-hop-mac>
 *
 * It creates both TAPs (not persistent: they vanish when it exits), prints "ready", and
 * forwards every frame read from in-tap to out-tap. It does what a router must do to a frame
 * it forwards and nothing more: check the EtherType and the IPv6 version, drop a hop limit
 * that would reach zero (RFC 8200 §3), decrement it, and rewrite the Ethernet addresses to
 * the (fixed, given) next hop. No routing table, no neighbour discovery: that is turtle6's
 * extra work, which the comparison is meant to price.
 * On SIGUSR1 it prints {"rx":N,"tx":N,"dropped":N}; on SIGTERM it prints that and exits.
 */
#define _GNU_SOURCE
#include "../lib/tapfwd-common.h"

int main(int argc, char **argv)
{
	unsigned char next_hop[6];
	if (argc != 4 || parse_mac(argv[3], next_hop) < 0) {
		fprintf(stderr, "usage: tapfwd <in-tap> <out-tap> <next-hop-mac>\n");
		return 2;
	}
	/* A busy forwarder makes exactly one read per frame; only when the queue runs empty
	 * does it sleep in ppoll (wait_readable), so an idle one costs nothing. */
	int in = open_tap(argv[1], O_NONBLOCK);
	int out = open_tap(argv[2], 0);
	if (in < 0 || out < 0)
		return 1;
	install_signals();
	printf("ready\n");
	fflush(stdout);

	static unsigned char frame[FRAME_MAX];
	struct counts n = { 0, 0, 0 };
	for (;;) {
		if (report_requested || stop_requested) {
			print_counts(&n);
			if (stop_requested)
				return 0;
		}
		ssize_t len = read(in, frame, sizeof(frame));
		if (len < 0) {
			if (errno == EAGAIN) {
				wait_readable(in);
				continue;
			}
			perror("tapfwd: read");
			return 1;
		}
		n.rx++;
		if (!forward_in_place(frame, (size_t)len, next_hop)) {
			n.dropped++;
			continue;
		}
		if (write(out, frame, (size_t)len) == len)
			n.tx++;
		else
			n.dropped++;
	}
}
