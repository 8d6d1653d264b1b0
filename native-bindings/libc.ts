/**
 * Typed koffi declarations of the few libc calls turtle6 needs to own TAP/TUN devices
 * without a compiled addon: open/close, ioctl(TUNSETIFF), read/write, readv/writev, poll,
 * fcntl, eventfd and errno; and socket/sendto for the one Unix datagram Node cannot send
 * (systemd's readiness notification, src/app/sd-notify.ts).
 *
 * Conventions:
 * - Every buffer argument is declared `void *`. koffi then hands C the address of a
 *   TypedArray's bytes (including its byteOffset) without copying, which is what the data
 *   path needs; for a SharedArrayBuffer that address is also stable for the buffer's life.
 * - Functions return the raw C result. When it is -1, read `errno()` right away, before any
 *   other koffi call can overwrite it.
 * - Constants are the x86-64/aarch64 Linux values (asm-generic); turtle6 runs only on Linux.
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

// open(2) flags (asm-generic/fcntl.h).
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

// fcntl(2) commands.
export const F_GETFL = 3;
export const F_SETFL = 4;

// poll(2) events (asm-generic/poll.h).
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

// eventfd(2) flags share their values with O_NONBLOCK/O_CLOEXEC.
export const EFD_NONBLOCK = O_NONBLOCK;
export const EFD_CLOEXEC = O_CLOEXEC;

// errno values used by the I/O engines.
export const EINTR = 4;
export const EAGAIN = 11;

/*
 * Universal TUN/TAP driver (linux/if_tun.h). TUNSETIFF is _IOW('T', 202, int): the kernel
 * declares the argument as int, but it is really a struct ifreq, and that is what it reads.
 */
export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
/** Multi-queue device: each open fd attached with TUNSETIFF is one queue. */
export const IFF_MULTI_QUEUE = 0x0100;
/** No 4-byte packet-information prefix: reads and writes carry the bare frame/packet. */
export const IFF_NO_PI = 0x1000;

/**
 * struct ifreq as TUNSETIFF uses it: ifr_name[IFNAMSIZ] at offset 0, then the union whose
 * first member we use is `short ifr_flags` at offset 16. The union is 24 bytes (its largest
 * member is struct ifmap), so the struct is 40 bytes; the kernel copies all 40.
 */
export const IFNAMSIZ = 16;
export const IFREQ_SIZE = 40;
export const IFREQ_FLAGS_OFFSET = 16;

/** struct pollfd { int fd; short events; short revents; }: 8 bytes, laid out by hand. */
export const POLLFD_SIZE = 8;

/** struct iovec { void *iov_base; size_t iov_len; }: 16 bytes on 64-bit Linux. */
export const IOVEC_SIZE = 16;

/** int open(const char *path, int flags, ...): the mode argument is never needed here. */
export const open = lib.func('int open(const char *path, int flags)') as (path: string, flags: number) => number;

export const close = lib.func('int close(int fd)') as (fd: number) => number;

const ioctlVariadic = lib.func('int ioctl(int fd, unsigned long request, ...)');
/** ioctl(fd, request, arg) where arg is a pointer to a struct the caller laid out in `arg`. */
export function ioctlPtr(fd: number, request: number, arg: Uint8Array): number {
  return ioctlVariadic(fd, request, 'void *', arg) as number;
}
/** ioctl(fd, request, int): TUNSETPERSIST and friends take the value itself. */
export function ioctlInt(fd: number, request: number, value: number): number {
  return ioctlVariadic(fd, request, 'unsigned long', value) as number;
}

export const read = lib.func('long read(int fd, void *buf, size_t count)') as (
  fd: number,
  buf: ArrayBufferView,
  count: number,
) => number;

export const write = lib.func('long write(int fd, void *buf, size_t count)') as (
  fd: number,
  buf: ArrayBufferView,
  count: number,
) => number;

/** `iov` is an array of IOVEC_SIZE-byte struct iovec laid out by the caller. */
export const readv = lib.func('long readv(int fd, void *iov, int iovcnt)') as (
  fd: number,
  iov: ArrayBufferView,
  iovcnt: number,
) => number;

export const writev = lib.func('long writev(int fd, void *iov, int iovcnt)') as (
  fd: number,
  iov: ArrayBufferView,
  iovcnt: number,
) => number;

/** `fds` is an array of POLLFD_SIZE-byte struct pollfd laid out by the caller. */
export const poll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)') as (
  fds: ArrayBufferView,
  nfds: number,
  timeoutMs: number,
) => number;

const fcntlVariadic = lib.func('int fcntl(int fd, int cmd, ...)');
export function fcntlGet(fd: number, cmd: number): number {
  return fcntlVariadic(fd, cmd) as number;
}
export function fcntlSet(fd: number, cmd: number, value: number): number {
  return fcntlVariadic(fd, cmd, 'int', value) as number;
}

export const eventfd = lib.func('int eventfd(unsigned int initval, int flags)') as (
  initval: number,
  flags: number,
) => number;

// socket(2) (asm-generic socket.h): a Unix datagram socket, closed on exec.
export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = O_CLOEXEC;
/** sendto(2): no SIGPIPE when the receiver is gone; the error comes back as EPIPE/ECONNREFUSED. */
export const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un): sa_family_t, then sun_path[108]. */
export const SOCKADDR_UN_SIZE = 110;

export const socket = lib.func('int socket(int domain, int type, int protocol)') as (domain: number, type: number, protocol: number) => number;

export const sendto = lib.func('long sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t addrlen)') as (
  fd: number,
  buf: Uint8Array,
  len: number,
  flags: number,
  addr: Uint8Array,
  addrlen: number,
) => number;

/**
 * The address of a buffer's first byte, as a number. memmove(p, p, 0) does nothing and returns
 * p, which is the cheapest way to ask C for a pointer koffi has already computed. Only
 * meaningful for memory that never moves: a SharedArrayBuffer or an external backing store.
 */
const memmoveAddress = lib.func('uintptr_t memmove(void *dst, void *src, size_t n)');
export function addressOf(buf: ArrayBufferView): number {
  return Number(memmoveAddress(buf, buf, 0));
}

/** The calling thread's errno as koffi saved it after the last call. */
export function errno(): number {
  return koffi.errno();
}

export const strerror = lib.func('const char *strerror(int errnum)') as (errnum: number) => string;

/** An Error for a failed libc call, carrying the errno in `code` as Node does ("EAGAIN"...). */
export class LibcError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(call: string, err: number) {
    const name = Object.entries(koffi.os.errno).find(([, v]) => v === err)?.[0] ?? `E${err}`;
    super(`${call}: ${strerror(err)} (${name})`);
    this.name = 'LibcError';
    this.errno = err;
    this.code = name;
  }
}

/** Throws a LibcError when `result` is negative; returns it otherwise. */
export function check(call: string, result: number): number {
  if (result < 0) throw new LibcError(call, errno());
  return result;
}

/** Switches an fd to non-blocking mode (fcntl F_SETFL |= O_NONBLOCK). */
export function setNonBlocking(fd: number): void {
  const flags = check('fcntl(F_GETFL)', fcntlGet(fd, F_GETFL));
  check('fcntl(F_SETFL)', fcntlSet(fd, F_SETFL, flags | O_NONBLOCK));
}
