/*
 * gen: the forwarding benchmark's traffic generator and sink (bench/forwarding.ts).
 *
 *   gen send --if IF --size BYTES [--l3] [--dst-mac MAC] [--src-mac MAC] [--src ADDR]
 *            [--dst ADDR | --dst-file FILE] [--flows N] [--rate PPS] [--seconds S] [--count N]
 *            [--stamp]
 *   gen sink --if IF [--l3]
 *
 * send writes pre-built IPv6/UDP packets (--size is the IPv6 packet length, header included)
 * through an AF_PACKET socket with PACKET_QDISC_BYPASS, up to 64 per sendmmsg(2), so that
 * each one goes straight to the driver's transmit routine: into a TAP's read queue, or across
 * a veth (a local UDP socket would pay for routing and the UDP output path on every packet,
 * ~0.3 Mpps here). Ethernet frames (or bare IPv6 with --l3, for a TUN: bench/io-engines.ts),
 * several sizes, several flows (UDP source ports, so that a
 * multi-queue TAP spreads them over its queues), many destinations (for a full FIB), a rate,
 * a packet count, and CLOCK_REALTIME stamps in the payload for latency.
 * With --rate 0 (the default) it floods; packets a full queue drops are the receiver's loss,
 * not the generator's, so `sent` counts what the kernel accepted.
 * It prints "sending" when it starts and one JSON line when it stops (after --seconds, after
 * --count packets, or on SIGTERM/SIGINT): {"sent":N,"errors":N,"seconds":S}.
 *
 * sink counts the benchmark's packets arriving on IF in a TPACKET_V2 receive ring. A
 * classic BPF filter accepts only UDP to port 9 and copies only the first 128 bytes, so the
 * cost the sink adds to the kernel's receive path (charged to whoever wrote the packet) stays
 * small and the same for every forwarder. The kernel then drops the packet as usual.
 * On SIGUSR1 it prints {"t":MONOTONIC_S,"packets":N,"bytes":N,"ringDrops":N,
 * "latency":{"n":N,"p50":NS,"p99":NS}} where latency covers the packets since the previous
 * report: kernel receive timestamp (CLOCK_REALTIME) minus the generator's stamp. On SIGTERM
 * it prints the same line and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "../lib/parse-mac.h"

#define BATCH 64
#define MAX_FRAMES 4096
#define MAX_PACKET 1500
#define ETH_LEN 14
#define IP6_LEN 40
#define UDP_LEN 8
#define SINK_PORT 9
#define SNAP 128
/* Payload: magic, sequence number, CLOCK_REALTIME stamp in ns. */
#define MAGIC 0x5436424eu /* "T6BN" */
#define PAYLOAD_MIN 16

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t report_requested;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }
static void on_report(int sig) { (void)sig; report_requested = 1; }

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	/* No SA_RESTART: a blocked poll/nanosleep must return so the flag is seen. */
	sigaction(sig, &sa, NULL);
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_packet_socket(const char *ifname, int protocol, struct sockaddr_ll *addr)
{
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "gen: no interface %s\n", ifname);
		return -1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW, htons(protocol));
	if (fd < 0) {
		perror("gen: socket(AF_PACKET)");
		return -1;
	}
	memset(addr, 0, sizeof(*addr));
	addr->sll_family = AF_PACKET;
	addr->sll_protocol = htons(ETH_P_IPV6);
	addr->sll_ifindex = (int)ifindex;
	return fd;
}

struct send_opts {
	const char *ifname;
	int l3;
	unsigned char dst_mac[6], src_mac[6];
	struct in6_addr src;
	struct in6_addr *dsts;
	int ndsts;
	int size;
	int flows;
	double rate;
	double seconds;
	uint64_t count;
	int stamp;
};

static int read_dsts(const char *path, struct send_opts *o)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	char line[128];
	while (o->ndsts < MAX_FRAMES && fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \r\n")] = 0;
		if (!line[0])
			continue;
		if (inet_pton(AF_INET6, line, &o->dsts[o->ndsts]) != 1) {
			fprintf(stderr, "gen: bad address '%s' in %s\n", line, path);
			fclose(f);
			return -1;
		}
		o->ndsts++;
	}
	fclose(f);
	return o->ndsts > 0 ? 0 : -1;
}

static int run_send(struct send_opts *o)
{
	struct sockaddr_ll to;
	/* Protocol 0: a send-only socket. With ETH_P_IPV6 the kernel would also hand this socket
	 * a clone of every IPv6 packet on the interface, charging the receiver for packet_rcv. */
	int fd = open_packet_socket(o->ifname, 0, &to);
	if (fd < 0)
		return 1;
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		perror("gen: PACKET_QDISC_BYPASS (continuing through the qdisc)");

	int l2 = o->l3 ? 0 : ETH_LEN;
	int nframes = o->flows > o->ndsts ? o->flows : o->ndsts;
	if (nframes > MAX_FRAMES)
		nframes = MAX_FRAMES;
	int frame_len = l2 + o->size;
	unsigned char *frames = calloc((size_t)nframes, (size_t)frame_len);
	if (!frames)
		return 1;
	for (int i = 0; i < nframes; i++) {
		unsigned char *f = frames + (size_t)i * (size_t)frame_len;
		if (l2) {
			memcpy(f, o->dst_mac, 6);
			memcpy(f + 6, o->src_mac, 6);
			f[12] = ETH_P_IPV6 >> 8;
			f[13] = ETH_P_IPV6 & 0xff;
		}
		unsigned char *ip = f + l2;
		int payload = o->size - IP6_LEN;
		ip[0] = 0x60;
		ip[4] = (unsigned char)(payload >> 8);
		ip[5] = (unsigned char)payload;
		ip[6] = 17; /* UDP */
		ip[7] = 64;
		memcpy(ip + 8, &o->src, 16);
		memcpy(ip + 24, &o->dsts[i % o->ndsts], 16);
		unsigned char *udp = ip + IP6_LEN;
		unsigned sport = 1024 + (unsigned)(i % o->flows);
		udp[0] = (unsigned char)(sport >> 8);
		udp[1] = (unsigned char)sport;
		udp[2] = SINK_PORT >> 8;
		udp[3] = SINK_PORT & 0xff;
		udp[4] = (unsigned char)(payload >> 8);
		udp[5] = (unsigned char)payload;
		/* The UDP checksum stays zero: no hop on the path looks past the IPv6 header (routers
		 * do not verify transport checksums, and the sink's kernel drops the packet at its
		 * blackhole route before UDP). */
		uint32_t magic = htonl(MAGIC);
		memcpy(udp + UDP_LEN, &magic, 4);
	}

	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_len = (size_t)frame_len;
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* Paced sends go out in small bursts so that latency samples are not queued behind a
	 * whole batch: about 20 µs worth of packets each, between 1 and BATCH. */
	int burst = BATCH;
	if (o->rate > 0) {
		burst = (int)(o->rate / 50000.0);
		if (burst < 1)
			burst = 1;
		if (burst > BATCH)
			burst = BATCH;
	}

	install(SIGTERM, on_stop);
	install(SIGINT, on_stop);
	printf("sending\n");
	fflush(stdout);

	uint64_t sent = 0, errors = 0;
	int next_frame = 0;
	uint64_t start = now_ns(CLOCK_MONOTONIC);
	uint64_t end = o->seconds > 0 ? start + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
	while (!stop_requested && (o->count == 0 || sent < o->count)) {
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		if (now >= end)
			break;
		if (o->rate > 0) {
			uint64_t due = start + (uint64_t)((double)sent * 1e9 / o->rate);
			if (due > now) {
				struct timespec ts = { (time_t)(due / 1000000000ull), (long)(due % 1000000000ull) };
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				continue;
			}
		}
		int n = burst;
		if (o->count && o->count - sent < (uint64_t)n)
			n = (int)(o->count - sent);
		uint64_t stamp = o->stamp ? now_ns(CLOCK_REALTIME) : 0;
		for (int i = 0; i < n; i++) {
			unsigned char *f = frames + (size_t)((next_frame + i) % nframes) * (size_t)frame_len;
			unsigned char *payload = f + l2 + IP6_LEN + UDP_LEN;
			uint32_t seq = htonl((uint32_t)(sent + (uint64_t)i));
			memcpy(payload + 4, &seq, 4);
			if (o->stamp)
				memcpy(payload + 8, &stamp, 8);
			iov[i].iov_base = f;
		}
		int r = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (r < 0) {
			/* ENOBUFS and the like: the device is saturated; yield and try again. */
			errors++;
			sched_yield();
			continue;
		}
		sent += (uint64_t)r;
		next_frame = (next_frame + r) % nframes;
	}
	double seconds = (double)(now_ns(CLOCK_MONOTONIC) - start) / 1e9;
	printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.6f}\n", (unsigned long long)sent,
	       (unsigned long long)errors, seconds);
	fflush(stdout);
	return 0;
}

/* Latency histogram: exact below 64 ns, then 64 buckets per power of two (≤1.6 % error). */
#define SUB 64
#define HIST_BUCKETS (SUB + 40 * SUB)
static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_n;

static int bucket_of(uint64_t v)
{
	if (v < SUB)
		return (int)v;
	int msb = 63 - __builtin_clzll(v);
	int shift = msb - 6;
	int idx = SUB + shift * SUB + (int)((v >> shift) - SUB);
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static uint64_t bucket_value(int idx)
{
	if (idx < SUB)
		return (uint64_t)idx;
	int shift = (idx - SUB) / SUB;
	return (uint64_t)(SUB + (idx - SUB) % SUB) << shift;
}

static uint64_t percentile(double p)
{
	if (!hist_n)
		return 0;
	uint64_t want = (uint64_t)(p * (double)(hist_n - 1)) + 1, seen = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= want)
			return bucket_value(i);
	}
	return bucket_value(HIST_BUCKETS - 1);
}

static int run_sink(const char *ifname, int l3)
{
	struct sockaddr_ll addr;
	int fd = open_packet_socket(ifname, ETH_P_IPV6, &addr);
	if (fd < 0)
		return 1;
	/* Accept UDP to SINK_PORT (next header 17 right after the fixed header) and copy SNAP
	 * bytes of it; everything else (ND, MLD) returns 0 and is not copied. */
	unsigned l2 = l3 ? 0 : ETH_LEN;
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, l2 + 6),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 3),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, l2 + IP6_LEN + 2),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SINK_PORT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SNAP),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	int version = TPACKET_V2;
	/* 128 Ki frames of 256 bytes (the headers plus SNAP fit): half a second of a fast
	 * forwarder, so a sink that loses the CPU for a while still sees every packet. */
	struct tpacket_req req = { .tp_block_size = 1 << 22, .tp_block_nr = 8, .tp_frame_size = 256 };
	req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
		perror("gen: sink socket options");
		return 1;
	}
	size_t ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
	unsigned char *ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED) {
		perror("gen: mmap ring");
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("gen: bind");
		return 1;
	}
	install(SIGTERM, on_stop);
	install(SIGINT, on_stop);
	install(SIGUSR1, on_report);
	printf("listening\n");
	fflush(stdout);

	uint64_t packets = 0, bytes = 0, ring_drops = 0;
	unsigned frame = 0;
	for (;;) {
		/* Reports are answered between frames, not only when idle: under a flood the ring
		 * may never run empty. */
		if (report_requested || stop_requested) {
			struct tpacket_stats st;
			socklen_t len = sizeof(st);
			/* Reading the statistics resets them: accumulate. */
			if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
				ring_drops += st.tp_drops;
			printf("{\"t\":%.6f,\"packets\":%llu,\"bytes\":%llu,\"ringDrops\":%llu,"
			       "\"latency\":{\"n\":%llu,\"p50\":%llu,\"p99\":%llu}}\n",
			       (double)now_ns(CLOCK_MONOTONIC) / 1e9, (unsigned long long)packets,
			       (unsigned long long)bytes, (unsigned long long)ring_drops,
			       (unsigned long long)hist_n, (unsigned long long)percentile(0.50),
			       (unsigned long long)percentile(0.99));
			fflush(stdout);
			memset(hist, 0, sizeof(hist));
			hist_n = 0;
			report_requested = 0;
			if (stop_requested)
				return 0;
		}
		struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)frame * req.tp_frame_size);
		if (h->tp_status & TP_STATUS_USER) {
			const unsigned char *p = (const unsigned char *)h + h->tp_mac + l2 + IP6_LEN + UDP_LEN;
			uint32_t magic;
			memcpy(&magic, p, 4);
			if (h->tp_snaplen >= l2 + IP6_LEN + UDP_LEN + PAYLOAD_MIN && ntohl(magic) == MAGIC) {
				packets++;
				bytes += h->tp_len;
				uint64_t stamp;
				memcpy(&stamp, p + 8, 8);
				if (stamp) {
					uint64_t rx = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec;
					hist[bucket_of(rx > stamp ? rx - stamp : 0)]++;
					hist_n++;
				}
			}
			h->tp_status = TP_STATUS_KERNEL;
			__sync_synchronize();
			frame = (frame + 1) % req.tp_frame_nr;
			continue;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		poll(&pfd, 1, 50);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: gen send --if IF --size BYTES [--l3] [--dst-mac MAC] [--src-mac MAC] [--src ADDR]\n"
			"                [--dst ADDR | --dst-file FILE] [--flows N] [--rate PPS] [--seconds S]\n"
			"                [--count N] [--stamp]\n"
			"       gen sink --if IF [--l3]\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	const char *mode = argv[1];
	static struct in6_addr dsts[MAX_FRAMES];
	struct send_opts o;
	memset(&o, 0, sizeof(o));
	o.dsts = dsts;
	o.size = 64;
	o.flows = 1;
	inet_pton(AF_INET6, "2001:db8:1::100", &o.src);
	static const struct option longopts[] = {
		{ "if", required_argument, 0, 'i' },     { "l3", no_argument, 0, '3' },
		{ "dst-mac", required_argument, 0, 'm' }, { "src-mac", required_argument, 0, 'M' },
		{ "src", required_argument, 0, 's' },    { "dst", required_argument, 0, 'd' },
		{ "dst-file", required_argument, 0, 'D' }, { "flows", required_argument, 0, 'f' },
		{ "size", required_argument, 0, 'z' },   { "rate", required_argument, 0, 'r' },
		{ "seconds", required_argument, 0, 't' }, { "count", required_argument, 0, 'c' },
		{ "stamp", no_argument, 0, 'T' },        { 0, 0, 0, 0 },
	};
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int ok = 1;
		switch (c) {
		case 'i': o.ifname = optarg; break;
		case '3': o.l3 = 1; break;
		case 'm': ok = parse_mac(optarg, o.dst_mac) == 0; break;
		case 'M': ok = parse_mac(optarg, o.src_mac) == 0; break;
		case 's': ok = inet_pton(AF_INET6, optarg, &o.src) == 1; break;
		case 'd': ok = o.ndsts < MAX_FRAMES && inet_pton(AF_INET6, optarg, &o.dsts[o.ndsts++]) == 1; break;
		case 'D': ok = read_dsts(optarg, &o) == 0; break;
		case 'f': o.flows = atoi(optarg); ok = o.flows >= 1; break;
		case 'z': o.size = atoi(optarg); ok = o.size >= IP6_LEN + UDP_LEN + PAYLOAD_MIN && o.size <= MAX_PACKET; break;
		case 'r': o.rate = atof(optarg); ok = o.rate >= 0; break;
		case 't': o.seconds = atof(optarg); break;
		case 'c': o.count = strtoull(optarg, NULL, 10); break;
		case 'T': o.stamp = 1; break;
		default: ok = 0;
		}
		if (!ok) {
			fprintf(stderr, "gen: bad value for option %s\n", argv[optind - 1]);
			usage();
			return 2;
		}
	}
	if (!o.ifname) {
		usage();
		return 2;
	}
	if (strcmp(mode, "sink") == 0)
		return run_sink(o.ifname, o.l3);
	if (strcmp(mode, "send") != 0) {
		usage();
		return 2;
	}
	if (o.ndsts == 0)
		inet_pton(AF_INET6, "2001:db8:99::1", &o.dsts[o.ndsts++]);
	return run_send(&o);
}
