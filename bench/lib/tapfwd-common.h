/*
 * What bench/ref/tapfwd.c and bench/ref/tapfwd-uring.c share: opening a TAP, the forwarding
 * decision applied to one frame, and the counters they report. The two references differ
 * only in how frames cross the kernel boundary, so everything else lives here once.
 */
#ifndef T6_BENCH_TAPFWD_COMMON_H
#define T6_BENCH_TAPFWD_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "parse-mac.h"

/* A TAP frame of a 1500-byte MTU plus its Ethernet header, with room to spare. */
#define FRAME_MAX 2048
#define ETH_LEN 14
#define IP6_LEN 40

/* The forwarder's own MAC, the source of every frame it sends. */
static const unsigned char own_mac[6] = { 0x02, 0x74, 0x36, 0x00, 0x00, 0xfe };

struct counts {
	unsigned long long rx, tx, dropped;
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t report_requested;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }
static void on_report(int sig) { (void)sig; report_requested = 1; }

/* The signal mask while waiting for a frame: the one we started with, signals open. */
static sigset_t wait_mask;

/*
 * The signals stay blocked except inside wait_readable(), whose ppoll(2) opens them
 * atomically. A flag checked before a plain blocking call could be set just after the check,
 * and the call would then sleep on an idle port with the request unanswered.
 */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_report;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t blocked;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGUSR1);
	sigprocmask(SIG_BLOCK, &blocked, &wait_mask);
}

/* Sleeps until fd is readable or a signal arrives. */
static void wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ppoll(&pfd, 1, NULL, &wait_mask);
}

static void print_counts(const struct counts *n)
{
	printf("{\"rx\":%llu,\"tx\":%llu,\"dropped\":%llu}\n", n->rx, n->tx, n->dropped);
	fflush(stdout);
	report_requested = 0;
}

/* Creates the TAP `name` (no packet-information prefix) and returns its fd. */
static int open_tap(const char *name, int flags)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | flags);
	if (fd < 0) {
		perror("open /dev/net/tun");
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror("TUNSETIFF");
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The per-frame work of a router that already knows its next hop: IPv6 only, hop limit
 * checked and decremented (RFC 8200 §3: a packet whose hop limit would reach zero is not
 * forwarded), Ethernet addresses rewritten. Returns 0 when the frame is to be dropped.
 */
static int forward_in_place(unsigned char *frame, size_t len, const unsigned char next_hop[6])
{
	if (len < ETH_LEN + IP6_LEN || frame[12] != 0x86 || frame[13] != 0xdd || (frame[ETH_LEN] >> 4) != 6)
		return 0;
	unsigned char *hop_limit = frame + ETH_LEN + 7;
	if (*hop_limit <= 1)
		return 0;
	(*hop_limit)--;
	memcpy(frame, next_hop, 6);
	memcpy(frame + 6, own_mac, 6);
	return 1;
}

#endif
