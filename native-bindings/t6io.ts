/**
 * koffi loader for the optional C helper libt6io.so (native-bindings/t6io.c, contract in
 * docs/io.md): batched TAP/TUN reads and writes through io_uring, two FFI calls per batch.
 *
 * loadT6io() returns null when the library was not built (no gcc or liburing at build
 * time), and callers fall back to the pure-koffi syscall engine. Every function returns
 * >= 0 on success and -errno on failure.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

/** An opaque `struct t6io *`. */
export type T6ioHandle = unknown;

export interface T6io {
  /** Creates a ring with `entries` submission slots (≥ the largest batch is best); null on failure. */
  create(entries: number): T6ioHandle | null;
  destroy(h: T6ioHandle): void;
  /** The handle's address, which another thread may pass to destroyAt once this one is gone. */
  address(h: T6ioHandle): number;
  /** t6io_destroy on a handle known by address: for a handle whose thread died without destroying it. */
  destroyAt(address: number): void;
  /** Every offset passed later is relative to `base`; returns 1 if io_uring pinned it as a fixed buffer, else 0. */
  registerPool(h: T6ioHandle, base: Uint8Array, len: number): number;
  addPort(h: T6ioHandle, port: number, fd: number): number;
  removePort(h: T6ioHandle, port: number): number;
  /** A non-blocking eventfd whose counter interrupts a waiting receive. */
  setWake(h: T6ioHandle, fd: number): number;
  /**
   * Waits up to timeoutMs for a readable port or the wake fd, then reads frames into the
   * areas frameOff[0..nFree) of frameCap bytes each. Frame i < result lies in area outIdx[i],
   * is outLen[i] bytes and came from outPort[i]; unnamed areas were not written.
   */
  receive(
    h: T6ioHandle,
    nFree: number,
    frameOff: Int32Array,
    frameCap: number,
    timeoutMs: number,
    outIdx: Int32Array,
    outLen: Int32Array,
    outPort: Int32Array,
  ): number;
  /** Writes pool[off[i], off[i]+len[i]) to port[i] for i < n in one batch; returns frames written whole. */
  transmit(h: T6ioHandle, n: number, off: Int32Array, len: Int32Array, port: Int32Array, sent: Uint8Array): number;
}

/** Where scripts/build-native.mjs puts the library: native-bindings/build under the package root. */
export function t6ioLibraryPath(): string {
  // This file runs from native-bindings/ or dist/native-bindings/; the package root is the
  // nearest directory above it with a package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'native-bindings', 'build', 'libt6io.so');
}

let cached: T6io | null | undefined;

/** Loads libt6io.so once per thread; null when it has not been built. */
export function loadT6io(): T6io | null {
  if (cached !== undefined) return cached;
  const path = t6ioLibraryPath();
  if (!existsSync(path)) {
    cached = null;
    return cached;
  }
  const lib = koffi.load(path);
  // Arrays are `void *` so koffi passes the TypedArray's bytes in place, without copying.
  const create = lib.func('void *t6io_create(unsigned int entries)');
  cached = {
    create: (entries) => create(entries) as T6ioHandle | null,
    destroy: lib.func('void t6io_destroy(void *h)'),
    // User-space addresses are below 2^47 on x86-64 and arm64, so a Number holds them exactly.
    address: (h) => Number(koffi.address(h)),
    destroyAt: lib.func('void t6io_destroy(uintptr_t h)'),
    registerPool: lib.func('int t6io_register_pool(void *h, void *base, size_t len)'),
    addPort: lib.func('int t6io_add_port(void *h, int port, int fd)'),
    removePort: lib.func('int t6io_remove_port(void *h, int port)'),
    setWake: lib.func('int t6io_set_wake(void *h, int fd)'),
    receive: lib.func(
      'int t6io_receive(void *h, int n_free, void *frame_off, int frame_cap, int timeout_ms, void *out_idx, void *out_len, void *out_port)',
    ),
    transmit: lib.func('int t6io_transmit(void *h, int n, void *off, void *len, void *port, void *sent)'),
  };
  return cached;
}
