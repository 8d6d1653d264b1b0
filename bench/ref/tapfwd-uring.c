/*
 * tapfwd-uring: reference (b) of the forwarding benchmark (bench/forwarding.ts). The same
 * forwarder as tapfwd.c (same checks and rewrite, bench/lib/tapfwd-common.h), but its frames
 * cross the kernel boundary in io_uring batches of up to 64: the best a C program does
 * without offloads, and so the bar for turtle6's batched lanes.
 *
 *   tapfwd-uring <in-tap> <out-tap> <next-hop-mac>
 *
 * Each round is one io_uring_enter(2) that submits the writes of the frames read in the
 * previous round together with reads into every free buffer, and waits for all of them.
 * The reads carry RWF_NOWAIT: the tun driver supports FMODE_NOWAIT, so without it io_uring
 * ignores O_NONBLOCK and parks a read on an empty queue until a frame arrives, and a round
 * that waits for all its completions would hang (docs/io.md). With it an empty queue answers
 * -EAGAIN at once. When a round reads nothing and has nothing to write, ppoll(2) sleeps until
 * in-tap is readable (wait_readable). Buffers and both fds are registered, so the kernel neither pins pages
 * nor looks up the fds per operation.
 * On SIGUSR1 it prints {"rx":N,"tx":N,"dropped":N}; on SIGTERM it prints that and exits.
 */
#define _GNU_SOURCE
#include <liburing.h>
#include <stdlib.h>
#include <sys/uio.h>
#include "../lib/tapfwd-common.h"

#define BATCH 64
#define BUFFERS (2 * BATCH)
#define OP_READ 0
#define OP_WRITE 1
#define IN_FILE 0
#define OUT_FILE 1

static unsigned char *buffer(unsigned char *base, int i) { return base + (size_t)i * FRAME_MAX; }

int main(int argc, char **argv)
{
	unsigned char next_hop[6];
	if (argc != 4 || parse_mac(argv[3], next_hop) < 0) {
		fprintf(stderr, "usage: tapfwd-uring <in-tap> <out-tap> <next-hop-mac>\n");
		return 2;
	}
	int fds[2] = { open_tap(argv[1], O_NONBLOCK), open_tap(argv[2], O_NONBLOCK) };
	if (fds[0] < 0 || fds[1] < 0)
		return 1;

	struct io_uring ring;
	struct io_uring_params params;
	memset(&params, 0, sizeof(params));
	params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int err = io_uring_queue_init_params(2 * BATCH, &ring, &params);
	if (err == -EINVAL) {
		/* Kernels before 6.1 refuse these flags; a plain ring works the same, a bit slower. */
		memset(&params, 0, sizeof(params));
		err = io_uring_queue_init_params(2 * BATCH, &ring, &params);
	}
	if (err < 0) {
		fprintf(stderr, "tapfwd-uring: io_uring_queue_init: %s\n", strerror(-err));
		return 1;
	}
	unsigned char *base = aligned_alloc(4096, (size_t)BUFFERS * FRAME_MAX);
	if (!base)
		return 1;
	struct iovec region = { base, (size_t)BUFFERS * FRAME_MAX };
	int fixed_buffers = io_uring_register_buffers(&ring, &region, 1) == 0;
	if ((err = io_uring_register_files(&ring, fds, 2)) < 0) {
		fprintf(stderr, "tapfwd-uring: register files: %s\n", strerror(-err));
		return 1;
	}

	int free_list[BUFFERS], n_free = BUFFERS;
	for (int i = 0; i < BUFFERS; i++)
		free_list[i] = i;
	int pending[BUFFERS], pending_len[BUFFERS], n_pending = 0;
	struct counts n = { 0, 0, 0 };

	install_signals();
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (report_requested || stop_requested) {
			print_counts(&n);
			if (stop_requested)
				return 0;
		}
		int queued = 0;
		for (int k = 0; k < n_pending; k++, queued++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			int b = pending[k];
			if (fixed_buffers)
				io_uring_prep_write_fixed(sqe, OUT_FILE, buffer(base, b), (unsigned)pending_len[k], 0, 0);
			else
				io_uring_prep_write(sqe, OUT_FILE, buffer(base, b), (unsigned)pending_len[k], 0);
			sqe->flags |= IOSQE_FIXED_FILE;
			io_uring_sqe_set_data64(sqe, ((uint64_t)OP_WRITE << 32) | (uint64_t)b);
		}
		n_pending = 0;
		int reads = n_free < BATCH ? n_free : BATCH;
		for (int k = 0; k < reads; k++, queued++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			int b = free_list[--n_free];
			if (fixed_buffers)
				io_uring_prep_read_fixed(sqe, IN_FILE, buffer(base, b), FRAME_MAX, 0, 0);
			else
				io_uring_prep_read(sqe, IN_FILE, buffer(base, b), FRAME_MAX, 0);
			sqe->flags |= IOSQE_FIXED_FILE;
			sqe->rw_flags = RWF_NOWAIT;
			io_uring_sqe_set_data64(sqe, ((uint64_t)OP_READ << 32) | (uint64_t)b);
		}
		err = io_uring_submit_and_wait(&ring, (unsigned)queued);
		if (err < 0) {
			fprintf(stderr, "tapfwd-uring: io_uring_submit_and_wait: %s\n", strerror(-err));
			return 1;
		}
		int got = 0;
		for (int reaped = 0; reaped < queued; reaped++) {
			struct io_uring_cqe *cqe;
			/* The signals are blocked here (install_signals), so no wait ends in EINTR. */
			if ((err = io_uring_wait_cqe(&ring, &cqe)) < 0) {
				fprintf(stderr, "tapfwd-uring: io_uring_wait_cqe: %s\n", strerror(-err));
				return 1;
			}
			uint64_t data = io_uring_cqe_get_data64(cqe);
			int b = (int)(data & 0xffffffffu), res = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
			if (data >> 32 == OP_WRITE) {
				if (res > 0)
					n.tx++;
				else
					n.dropped++;
				free_list[n_free++] = b;
			} else if (res > 0) {
				n.rx++;
				got++;
				if (forward_in_place(buffer(base, b), (size_t)res, next_hop)) {
					pending[n_pending] = b;
					pending_len[n_pending++] = res;
				} else {
					n.dropped++;
					free_list[n_free++] = b;
				}
			} else {
				free_list[n_free++] = b; /* -EAGAIN: the queue is empty */
			}
		}
		if (got == 0 && n_pending == 0)
			wait_readable(fds[0]);
	}
}
