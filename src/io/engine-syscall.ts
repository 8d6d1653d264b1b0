/**
 * The pure-koffi engine, used where libt6io is not built: poll(2) over the ports and the wake
 * fd, then readv(2) per frame until EAGAIN or the batch is full, and writev(2) per frame.
 * A TUN/TAP without offloads returns exactly one packet per read, so this costs one syscall
 * per packet each way (≈0.1 Mpps per CPU-second, DESIGN.md).
 *
 * readv/writev with a single iovec instead of read/write: the iovec is one preallocated
 * 16-byte buffer whose base address we compute from the pool's (fixed, SharedArrayBuffer)
 * address, so pointing the kernel at any offset of the pool allocates nothing, where
 * read(fd, bytes.subarray(...)) would create a view per packet.
 */
import type { PacketPool } from '../shm/pool.js';
import { HEADROOM } from '../shm/pool.js';
import {
  EINTR,
  LibcError,
  POLLFD_SIZE,
  POLLIN,
  addressOf,
  close as closeFd,
  errno,
  poll,
  read,
  readv,
  writev,
} from '../../native-bindings/libc.js';
import type { IoEngine, RxBatch } from './engine.js';
import { MAX_PORTS, checkPort } from './ports.js';
import { createWakeFd } from './wake.js';

const TWO_32 = 0x1_0000_0000;

export class SyscallEngine implements IoEngine {
  readonly kind = 'syscall' as const;
  readonly wakeFd: number;
  readonly nativeHandle = 0;
  private readonly pool: PacketPool;
  private readonly fdOfPort = new Int32Array(MAX_PORTS).fill(-1);
  /** struct pollfd[]: fd at int32 index 2k, events/revents at int16 index 4k+2 / 4k+3. */
  private readonly pollBuf = new ArrayBuffer((MAX_PORTS + 1) * POLLFD_SIZE);
  private readonly pollFd = new Int32Array(this.pollBuf);
  private readonly pollEv = new Int16Array(this.pollBuf);
  private readonly pollPort = new Int32Array(MAX_PORTS + 1);
  private pollCount = 0;
  private rxFirst = 0;
  /** One struct iovec: base as two uint32 halves (little-endian), then the length. */
  private readonly iov = new Uint32Array(4);
  private readonly poolBaseLo: number;
  private readonly poolBaseHi: number;
  private readonly wakeDrain = new BigUint64Array(1);
  private closed = false;

  constructor(pool: PacketPool) {
    this.pool = pool;
    const base = addressOf(pool.bytes);
    this.poolBaseLo = base % TWO_32;
    this.poolBaseHi = Math.floor(base / TWO_32);
    this.wakeFd = createWakeFd();
    this.rebuildPollSet();
  }

  addPort(port: number, fd: number): void {
    checkPort(port);
    this.fdOfPort[port] = fd;
    this.rebuildPollSet();
  }

  removePort(port: number): void {
    if (this.fdOfPort[port] === undefined || this.fdOfPort[port] < 0) throw new RangeError(`port ${port} is not open`);
    this.fdOfPort[port] = -1;
    this.rebuildPollSet();
  }

  receive(rx: RxBatch, max: number, timeoutMs: number): number {
    if (this.closed) throw new Error('io engine is closed');
    const ready = poll(this.pollFd, this.pollCount, timeoutMs);
    if (ready <= 0) {
      if (ready < 0 && errno() !== EINTR) throw new LibcError('poll', errno());
      return 0;
    }
    const pool = this.pool;
    const ev = this.pollEv;
    let n = 0;
    // Start one place later at each call, so a flooded port fills a batch only when it is
    // its turn to go first (receive fairness, as t6io_receive does).
    const count = this.pollCount;
    const first = this.rxFirst < count ? this.rxFirst : 0;
    this.rxFirst = first + 1 < count ? first + 1 : 0;
    for (let j = 0; j < count; j++) {
      const k = first + j < count ? first + j : first + j - count;
      if (ev[4 * k + 3] === 0) continue;
      const port = this.pollPort[k]!;
      if (port < 0) {
        read(this.wakeFd, this.wakeDrain, 8);
        continue;
      }
      const fd = this.pollFd[2 * k]!;
      // Read until the queue is empty (EAGAIN) or the batch is full.
      while (n < max) {
        const slot = pool.alloc();
        if (slot < 0) return n;
        this.pointIov(pool.offsetOf(slot) + HEADROOM, pool.frameCapacity);
        const got = readv(fd, this.iov, 1);
        if (got <= 0) {
          pool.free(slot);
          break;
        }
        rx.slot[n] = slot;
        rx.len[n] = got;
        rx.port[n] = port;
        n++;
      }
    }
    return n;
  }

  transmit(off: Int32Array, len: Int32Array, port: Int32Array, n: number, sent: Uint8Array): number {
    if (this.closed) throw new Error('io engine is closed');
    let written = 0;
    const limit = this.pool.bytes.byteLength;
    for (let i = 0; i < n; i++) {
      sent[i] = 0;
      const p = port[i]!;
      const fd = p >= 0 && p < MAX_PORTS ? this.fdOfPort[p]! : -1;
      const length = len[i]!;
      // The kernel reads where the iovec points: never outside the pool.
      if (fd < 0 || length <= 0 || off[i]! < 0 || off[i]! + length > limit) continue;
      this.pointIov(off[i]!, length);
      // A TAP/TUN write is all or nothing; EAGAIN/ENOBUFS drop the frame, as a full NIC would.
      if (writev(fd, this.iov, 1) === length) {
        sent[i] = 1;
        written++;
      }
    }
    return written;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.wakeFd);
  }

  /** Points the iovec at pool.bytes[offset, offset+length) without allocating. */
  private pointIov(offset: number, length: number): void {
    const lo = this.poolBaseLo + offset;
    const carry = lo >= TWO_32 ? 1 : 0;
    this.iov[0] = lo - carry * TWO_32;
    this.iov[1] = this.poolBaseHi + carry;
    this.iov[2] = length;
    this.iov[3] = 0;
  }

  private rebuildPollSet(): void {
    let k = 0;
    for (let port = 0; port < MAX_PORTS; port++) {
      const fd = this.fdOfPort[port]!;
      if (fd < 0) continue;
      this.setPollEntry(k++, fd, port);
    }
    this.setPollEntry(k++, this.wakeFd, -1);
    this.pollCount = k;
  }

  private setPollEntry(k: number, fd: number, port: number): void {
    this.pollFd[2 * k] = fd;
    this.pollEv[4 * k + 2] = POLLIN;
    this.pollEv[4 * k + 3] = 0;
    this.pollPort[k] = port;
  }
}
