/*
 * t6io: batched TAP/TUN I/O through io_uring for turtle6's lanes.
 *
 * Why this exists: a syscall costs ~1.3 us on the target VMs and a TUN returns one packet
 * per read(2), so per-packet read/write from JavaScript tops out near 0.1 Mpps. Here one
 * io_uring_enter carries a whole batch of reads or writes, and JavaScript makes two FFI
 * calls per batch (t6io_receive, t6io_transmit).
 *
 * What it is not: it never looks inside a packet and never decides anything about one.
 * It moves bytes between the fds it was given and the frame areas JavaScript names by
 * byte offset inside the registered packet pool (a SharedArrayBuffer, which never moves,
 * so keeping its address here is safe).
 *
 * Threading: one handle belongs to one thread (the lane that created it); the ring is set
 * up with IORING_SETUP_SINGLE_ISSUER when the kernel allows it. Only the wake eventfd is
 * meant to be touched by other threads, and they write to it directly.
 *
 * The contract is documented in docs/io.md; every function returns >= 0 on success and
 * -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define T6IO_MAX_PORTS 256
/* Per-port read budget bounds: see adapt_budget(). */
#define T6IO_MIN_BUDGET 4
#define T6IO_MAX_BUDGET 64

struct t6io {
	struct io_uring ring;
	unsigned sq_entries;
	uint8_t *pool;      /* registered packet pool, or NULL */
	size_t pool_len;
	int pool_fixed;     /* pool is io_uring fixed buffer 0: READ_FIXED/WRITE_FIXED */
	int files_fixed;    /* the sparse fixed-file table is registered: slot = port */
	int fd_of_port[T6IO_MAX_PORTS];  /* -1: no such port */
	/* How many reads to queue for a port next time it is readable (see adapt_budget). */
	int budget[T6IO_MAX_PORTS];
	int wake_fd;        /* -1: none */
	/* poll set: ports in ascending order, then the wake fd; rebuilt when ports change. */
	struct pollfd pfd[T6IO_MAX_PORTS + 1];
	int pfd_port[T6IO_MAX_PORTS + 1];
	int npfd;
	int pfd_dirty;
	/* Where the next receive starts in the poll set: it rotates, so a flooded port fills
	 * a batch only when it is its turn to go first (receive fairness). */
	int rx_first;
	/* Scratch sized to the largest batch seen: each operation's result by index, and
	 * receive's queue of free frame areas. */
	int32_t *res;
	int32_t *area_fifo;
	int res_cap;
};

typedef struct t6io t6io;

static void rebuild_pollset(t6io *h)
{
	int n = 0;
	for (int p = 0; p < T6IO_MAX_PORTS; p++) {
		if (h->fd_of_port[p] < 0)
			continue;
		h->pfd[n].fd = h->fd_of_port[p];
		h->pfd[n].events = POLLIN;
		h->pfd_port[n] = p;
		n++;
	}
	if (h->wake_fd >= 0) {
		h->pfd[n].fd = h->wake_fd;
		h->pfd[n].events = POLLIN;
		h->pfd_port[n] = -1;
		n++;
	}
	h->npfd = n;
	h->pfd_dirty = 0;
}

t6io *t6io_create(unsigned entries)
{
	t6io *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	/*
	 * SINGLE_ISSUER + DEFER_TASKRUN (Linux 6.1) let the kernel skip cross-thread
	 * synchronisation and run completion work only when we wait; older kernels refuse
	 * the flags with EINVAL, and the plain ring is then just as correct.
	 */
	struct io_uring_params params;
	memset(&params, 0, sizeof(params));
	params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (io_uring_queue_init_params(entries, &h->ring, &params) < 0) {
		memset(&params, 0, sizeof(params));
		if (io_uring_queue_init_params(entries, &h->ring, &params) < 0) {
			free(h);
			return NULL;
		}
	}
	h->sq_entries = params.sq_entries;
	h->wake_fd = -1;
	for (int p = 0; p < T6IO_MAX_PORTS; p++) {
		h->fd_of_port[p] = -1;
		h->budget[p] = T6IO_MIN_BUDGET;
	}
	/* Fixed files save an fget/fput pair per operation; without them we pass plain fds. */
	h->files_fixed = io_uring_register_files_sparse(&h->ring, T6IO_MAX_PORTS) == 0;
	return h;
}

void t6io_destroy(t6io *h)
{
	if (!h)
		return;
	io_uring_queue_exit(&h->ring);
	free(h->res);
	free(h->area_fifo);
	free(h);
}

/*
 * Remembers the pool [base, base+len) that every frame offset refers to and registers it as
 * fixed buffer 0, so the kernel pins its pages once instead of once per operation. If
 * registration is refused (RLIMIT_MEMLOCK without CAP_IPC_LOCK), plain READ/WRITE are used.
 * Returns 1 when the pool is a fixed buffer, 0 when not, -errno on error.
 */
int t6io_register_pool(t6io *h, void *base, size_t len)
{
	if (h->pool_fixed) {
		io_uring_unregister_buffers(&h->ring);
		h->pool_fixed = 0;
	}
	h->pool = base;
	h->pool_len = len;
	struct iovec iov = { .iov_base = base, .iov_len = len };
	h->pool_fixed = io_uring_register_buffers(&h->ring, &iov, 1) == 0;
	return h->pool_fixed;
}

int t6io_add_port(t6io *h, int port, int fd)
{
	if (port < 0 || port >= T6IO_MAX_PORTS || fd < 0)
		return -EINVAL;
	if (h->files_fixed) {
		int rc = io_uring_register_files_update(&h->ring, (unsigned)port, &fd, 1);
		if (rc < 0)
			return rc;
	}
	h->fd_of_port[port] = fd;
	h->budget[port] = T6IO_MIN_BUDGET;
	h->pfd_dirty = 1;
	return 0;
}

int t6io_remove_port(t6io *h, int port)
{
	if (port < 0 || port >= T6IO_MAX_PORTS || h->fd_of_port[port] < 0)
		return -ENOENT;
	if (h->files_fixed) {
		int none = -1;
		io_uring_register_files_update(&h->ring, (unsigned)port, &none, 1);
	}
	h->fd_of_port[port] = -1;
	h->pfd_dirty = 1;
	return 0;
}

/* The eventfd (created non-blocking by the caller) that interrupts a waiting receive. */
int t6io_set_wake(t6io *h, int fd)
{
	h->wake_fd = fd;
	h->pfd_dirty = 1;
	return 0;
}

static void prep_io(t6io *h, struct io_uring_sqe *sqe, int write, int port, int32_t off, unsigned len)
{
	uint8_t *buf = h->pool + off;
	int fd = h->files_fixed ? port : h->fd_of_port[port];
	if (h->pool_fixed) {
		if (write)
			io_uring_prep_write_fixed(sqe, fd, buf, len, 0, 0);
		else
			io_uring_prep_read_fixed(sqe, fd, buf, len, 0, 0);
	} else {
		if (write)
			io_uring_prep_write(sqe, fd, buf, len, 0);
		else
			io_uring_prep_read(sqe, fd, buf, len, 0);
	}
	if (h->files_fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	/*
	 * O_NONBLOCK on the fd is not enough: the TUN driver supports FMODE_NOWAIT, so io_uring
	 * ignores O_NONBLOCK and arms a poll, and a read with no frame would then complete only
	 * when one arrives. RWF_NOWAIT makes it complete at once with -EAGAIN (checked on 6.18),
	 * which is what lets one io_uring_enter try N reads and return. Writes to a TAP/TUN never
	 * wait, so they keep the default.
	 */
	if (!write)
		sqe->rw_flags |= RWF_NOWAIT;
}

/*
 * Submits what is queued and reaps exactly `queued` completions, storing each result at
 * res[user_data]. Reads carry RWF_NOWAIT and TAP/TUN writes never wait, so everything
 * completes inline and the wait returns at once. Should a kernel ever defer one anyway, the
 * wait gives up after T6IO_STUCK_MS with -ETIMEDOUT instead of hanging the lane; the handle
 * must then be destroyed, since the late completion would land in memory reused since.
 * A signal (EINTR) must not lose track of submitted operations, so the wait simply retries.
 */
#define T6IO_STUCK_MS 5000
static int submit_and_reap(t6io *h, unsigned queued, int32_t *res)
{
	struct __kernel_timespec stuck = { .tv_sec = T6IO_STUCK_MS / 1000, .tv_nsec = 0 };
	struct io_uring_cqe *cqe;
	int rc;
	if (queued == 0)
		return 0;
	do
		rc = io_uring_submit_and_wait_timeout(&h->ring, &cqe, queued, &stuck, NULL);
	while (rc == -EINTR);
	if (rc == -ETIME)
		return -ETIMEDOUT;
	if (rc < 0)
		return rc;
	for (unsigned seen = 0; seen < queued; seen++) {
		rc = io_uring_peek_cqe(&h->ring, &cqe);
		if (rc < 0)
			return rc == -EAGAIN ? -ETIMEDOUT : rc;
		res[io_uring_cqe_get_data64(cqe)] = cqe->res;
		io_uring_cqe_seen(&h->ring, cqe);
	}
	return 0;
}

/*
 * Next read budget for a port, from how many of its queued reads found a frame. When every
 * read succeeded the queue may hold more, so the budget doubles (and the caller reads again
 * at once); otherwise it tracks what the port delivered plus a margin, because each read
 * that ends in EAGAIN is wasted kernel work.
 */
static int adapt_budget(int queued, int got)
{
	int next = got == queued ? 2 * queued : got + got / 2 + 2;
	if (next < T6IO_MIN_BUDGET)
		next = T6IO_MIN_BUDGET;
	if (next > T6IO_MAX_BUDGET)
		next = T6IO_MAX_BUDGET;
	return next;
}

static int ensure_scratch(t6io *h, int n)
{
	if (n <= h->res_cap)
		return 0;
	int32_t *res = realloc(h->res, (size_t)n * sizeof(*res));
	if (!res)
		return -ENOMEM;
	h->res = res;
	int32_t *fifo = realloc(h->area_fifo, (size_t)n * sizeof(*fifo));
	if (!fifo)
		return -ENOMEM;
	h->area_fifo = fifo;
	h->res_cap = n;
	return 0;
}

/*
 * Waits up to timeout_ms (0: no wait, <0: forever) until a port is readable or the wake fd
 * fires, then reads frames into the frame areas frame_off[0..n_free) (each frame_cap bytes
 * inside the pool). Readable ports are drained one after another, starting one place later
 * in the poll set at each call, so a port that floods cannot take every batch from the
 * others; the reads of one port are issued in order, so its frames keep their arrival
 * order. A frame longer than frame_cap is truncated by the kernel, which still reports its
 * full length in out_len: the caller must drop any out_len > frame_cap.
 *
 * On return n (>= 0): frame i (i < n) lies in area out_idx[i] (an index into frame_off),
 * is out_len[i] bytes long and came from port out_port[i]. Areas not named in
 * out_idx[0..n) were not written and are still free. -errno on failure.
 */
int t6io_receive(t6io *h, int n_free, const int32_t *frame_off, int frame_cap, int timeout_ms,
		 int32_t *out_idx, int32_t *out_len, int32_t *out_port)
{
	if (!h->pool || n_free < 0 || frame_cap <= 0)
		return -EINVAL;
	if (ensure_scratch(h, n_free) < 0)
		return -ENOMEM;
	/* The kernel writes where we point it: never outside the registered pool. */
	for (int k = 0; k < n_free; k++)
		if (frame_off[k] < 0 || (size_t)frame_off[k] + (size_t)frame_cap > h->pool_len)
			return -EINVAL;
	if (h->pfd_dirty)
		rebuild_pollset(h);

	int ready = poll(h->pfd, (nfds_t)h->npfd, timeout_ms);
	if (ready < 0)
		return errno == EINTR ? 0 : -errno;
	if (ready == 0 || n_free == 0)
		return 0;

	/*
	 * Free areas as a FIFO of indices: a read that finds the queue empty leaves its area
	 * unwritten, so the area goes back to the tail for the next port to use.
	 */
	int32_t *fifo = h->area_fifo;
	for (int k = 0; k < n_free; k++)
		fifo[k] = k;
	int head = 0, count = n_free;
	int n = 0;

	int first = h->rx_first < h->npfd ? h->rx_first : 0;
	h->rx_first = first + 1 < h->npfd ? first + 1 : 0;
	for (int j = 0; j < h->npfd; j++) {
		int i = first + j < h->npfd ? first + j : first + j - h->npfd;
		if (!h->pfd[i].revents)
			continue;
		int port = h->pfd_port[i];
		if (port < 0) {
			uint64_t counter;
			/* Drain the wake counter; EAGAIN from a racing drain is harmless. */
			ssize_t rd = read(h->wake_fd, &counter, sizeof(counter));
			(void)rd;
			continue;
		}
		/* Queue rounds of reads on this port until one finds it empty or areas run out. */
		while (count > 0) {
			int want = h->budget[port];
			if (want > count)
				want = count;
			if ((unsigned)want > h->sq_entries)
				want = (int)h->sq_entries;
			for (int k = 0; k < want; k++) {
				int area = fifo[(head + k) % n_free];
				struct io_uring_sqe *sqe = io_uring_get_sqe(&h->ring);
				prep_io(h, sqe, 0, port, frame_off[area], (unsigned)frame_cap);
				io_uring_sqe_set_data64(sqe, (uint64_t)area);
			}
			int rc = submit_and_reap(h, (unsigned)want, h->res);
			if (rc < 0)
				return rc;
			int got = 0;
			for (int k = 0; k < want; k++) {
				int area = fifo[head];
				head = (head + 1) % n_free;
				count--;
				int32_t r = h->res[area];
				if (r > 0) {
					out_idx[n] = area;
					out_len[n] = r;
					out_port[n] = port;
					n++;
					got++;
				} else {
					/* EAGAIN (queue empty) or an error: the area stays free. */
					fifo[(head + count) % n_free] = area;
					count++;
				}
			}
			h->budget[port] = adapt_budget(want, got);
			if (got < want)
				break;
		}
	}
	return n;
}

/*
 * Writes frame i (pool bytes [off[i], off[i]+len[i])) to port[i] for i < n, all in one
 * io_uring_enter per sq_entries frames, in order, and waits for every completion, so the
 * frames' memory may be reused on return. sent[i] is 1 when frame i was written whole, 0
 * when it was skipped (unknown port, outside the pool) or the write failed: any frame may
 * fail, so callers count per frame. Returns how many frames were written whole.
 */
int t6io_transmit(t6io *h, int n, const int32_t *off, const int32_t *len, const int32_t *port, uint8_t *sent)
{
	if (!h->pool || n < 0)
		return -EINVAL;
	if (ensure_scratch(h, n) < 0)
		return -ENOMEM;
	int written = 0;
	for (int start = 0; start < n;) {
		unsigned queued = 0;
		int i = start;
		for (; i < n && queued < h->sq_entries; i++) {
			int p = port[i];
			if (p < 0 || p >= T6IO_MAX_PORTS || h->fd_of_port[p] < 0 || len[i] <= 0 ||
			    off[i] < 0 || (size_t)off[i] + (size_t)len[i] > h->pool_len) {
				h->res[i] = -EINVAL;
				continue;
			}
			struct io_uring_sqe *sqe = io_uring_get_sqe(&h->ring);
			prep_io(h, sqe, 1, p, off[i], (unsigned)len[i]);
			io_uring_sqe_set_data64(sqe, (uint64_t)i);
			queued++;
		}
		int rc = submit_and_reap(h, queued, h->res);
		if (rc < 0)
			return rc;
		for (int k = start; k < i; k++) {
			sent[k] = h->res[k] == len[k];
			written += sent[k];
		}
		start = i;
	}
	return written;
}
