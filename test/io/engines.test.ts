/**
 * The same batch scenario against the io_uring and the syscall engines, on a real TUN in a
 * namespace: the kernel sends 200 numbered UDP datagrams into the TUN; receive() must return
 * them in full batches of 64 and in order; transmit() reflects all of them in one call and
 * the kernel's socket must get them back in order. Also: wakeEngine() interrupts a long
 * receive(), and the helper must have been built wherever gcc and liburing are installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { ChildProcess } from 'node:child_process';
import { HEADROOM, MAX_FRAME, PacketPool } from '../../src/shm/pool.js';
import { createEngine, type IoEngine, type RxBatch } from '../../src/io/engine.js';
import { MemoryEngine } from '../../src/io/engine-memory.js';
import { closeTunTap, moveToNetns, openTunTap } from '../../src/io/tuntap.js';
import { loadT6io, t6ioLibraryPath } from '../../native-bindings/t6io.js';
import { TestBed, pollUntil, requireCommand, run, shortName } from '../helpers/netns.js';

const FRAMES = 200;
const BATCH = 64;
const PORT = 7;
const UDP_PAYLOAD = 40 + 8;

function newPool(slots: number): PacketPool {
  return new PacketPool(new SharedArrayBuffer(PacketPool.byteLength(slots)), slots, true);
}

function newBatch(max: number): RxBatch {
  return { slot: new Int32Array(max), len: new Int32Array(max), port: new Int32Array(max) };
}

/** Sends FRAMES datagrams from [fd00:3::1]:5000 to [fd00:3::2]:9, says "sent", then prints what comes back. */
const GENERATOR = `
import socket, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('fd00:3::1', 5000))
for i in range(n):
    s.sendto(b'seq:%05d' % i, ('fd00:3::2', 9))
print('sent', flush=True)
s.settimeout(10)
print(' '.join(s.recv(64).decode() for _ in range(n)), flush=True)
`;

function collectStdout(child: ChildProcess): () => string {
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return () => out;
}

test('the io_uring helper is built wherever gcc and liburing are present', () => {
  const probe = run('gcc', ['-x', 'c', '-', '-luring', '-o', '/dev/null'], '#include <liburing.h>\nint main(void) { return 0; }\n');
  if (probe.code !== 0) throw new Error(`gcc with liburing is not usable here (${probe.stderr.trim()}); install gcc and liburing-dev so the uring engine is tested`);
  assert.ok(loadT6io() !== null, `${t6ioLibraryPath()} is missing although gcc and liburing are installed: run \`node scripts/build-native.mjs\``);
  const pool = newPool(16);
  const engine = createEngine('auto', pool);
  try {
    assert.equal(engine.kind, 'uring', "'auto' picks the helper when it loads");
  } finally {
    engine.close();
  }
});

for (const kind of ['uring', 'syscall'] as const) {
  test(`${kind} engine: batched receive in order, reflected transmit in one call`, async (t) => {
    requireCommand('python3', 'python3');
    const bed = new TestBed(`io-${kind}`);
    t.after(() => bed.cleanup());
    const ns = bed.netns('a');
    const dev = openTunTap({ name: shortName('t6eng'), kind: 'tun', queues: 1 });
    bed.onCleanup(() => closeTunTap(dev));
    moveToNetns(dev.name, ns.name);
    ns.ip('link', 'set', dev.name, 'up');
    ns.ip('addr', 'add', 'fd00:3::1/64', 'dev', dev.name, 'nodad');

    const pool = newPool(512);
    const engine: IoEngine = createEngine(kind, pool);
    bed.onCleanup(() => engine.close());
    assert.equal(engine.kind, kind);
    engine.addPort(PORT, dev.fds[0]!);

    const generator = bed.spawnIn(ns, 'python3', ['-c', GENERATOR, String(FRAMES)]);
    const stdout = collectStdout(generator);
    await pollUntil('the generator to send its datagrams', () => stdout().includes('sent'));

    // Everything is queued in the TUN now (with the kernel's own MLD reports, which are set
    // aside), so the first three batches must be full.
    const rx = newBatch(BATCH);
    const slots: number[] = [];
    const lens: number[] = [];
    const sizes: number[] = [];
    const decoder = new TextDecoder();
    const deadline = Date.now() + 10_000;
    while (slots.length < FRAMES && Date.now() < deadline) {
      const n = engine.receive(rx, BATCH, 1000);
      assert.ok(n <= BATCH, `receive returned ${n} > max`);
      if (n > 0) sizes.push(n);
      for (let i = 0; i < n; i++) {
        assert.equal(rx.port[i], PORT);
        const off = pool.offsetOf(rx.slot[i]!) + HEADROOM;
        if (pool.bytes[off + 6] !== 17) {
          pool.free(rx.slot[i]!);
          continue;
        }
        slots.push(rx.slot[i]!);
        lens.push(rx.len[i]!);
      }
    }
    assert.equal(slots.length, FRAMES, 'every datagram was received');
    assert.deepEqual(sizes.slice(0, 3), [BATCH, BATCH, BATCH], 'full batches while frames are queued');
    for (let i = 0; i < FRAMES; i++) {
      const off = pool.offsetOf(slots[i]!) + HEADROOM;
      assert.equal(lens[i], UDP_PAYLOAD + 9);
      const text = decoder.decode(pool.bytes.subarray(off + UDP_PAYLOAD, off + lens[i]!));
      assert.equal(text, `seq:${String(i).padStart(5, '0')}`, `frame ${i} in arrival order`);
    }

    // Reflect in place: swapping the addresses and the ports leaves the UDP checksum valid.
    const txOff = new Int32Array(FRAMES);
    const txLen = new Int32Array(FRAMES);
    const txPort = new Int32Array(FRAMES).fill(PORT);
    for (let i = 0; i < FRAMES; i++) {
      const off = pool.offsetOf(slots[i]!) + HEADROOM;
      const b = pool.bytes;
      for (let k = 0; k < 16; k++) [b[off + 8 + k], b[off + 24 + k]] = [b[off + 24 + k]!, b[off + 8 + k]!];
      for (let k = 0; k < 2; k++) [b[off + 40 + k], b[off + 42 + k]] = [b[off + 42 + k]!, b[off + 40 + k]!];
      txOff[i] = off;
      txLen[i] = lens[i]!;
    }
    assert.equal(engine.transmit(txOff, txLen, txPort, FRAMES), FRAMES);
    const bogusPort = new Int32Array([PORT + 1]);
    assert.equal(engine.transmit(txOff, txLen, bogusPort, 1), 0, 'a frame for an unknown port is not written');
    for (const s of slots) pool.free(s);

    await pollUntil('the generator to print what came back', () => stdout().split('\n').length > 2);
    const echoed = stdout().split('\n')[1]!.split(' ');
    assert.deepEqual(echoed, Array.from({ length: FRAMES }, (_, i) => `seq:${String(i).padStart(5, '0')}`));

    engine.close();
    assert.equal(pool.available(), pool.slots, 'close() returns every slot the engine held');
  });

  test(`${kind} engine: wakeEngine() from another thread interrupts a long receive`, async (t) => {
    const bed = new TestBed(`io-wake-${kind}`);
    t.after(() => bed.cleanup());
    const ns = bed.netns('a');
    const dev = openTunTap({ name: shortName('t6wak'), kind: 'tun', queues: 1 });
    bed.onCleanup(() => closeTunTap(dev));
    moveToNetns(dev.name, ns.name);
    const pool = newPool(128);
    const engine = createEngine(kind, pool);
    bed.onCleanup(() => engine.close());
    engine.addPort(0, dev.fds[0]!);

    // The worker waits until this thread is about to block, gives it a moment to enter
    // poll(), then wakes it. Correctness does not depend on that moment: a wake that lands
    // before poll() leaves the eventfd readable, and receive() returns just as promptly.
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const wakeModule = new URL('../../src/io/wake.js', import.meta.url).href;
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       import(workerData.wakeModule).then(({ wakeEngine }) => {
         Atomics.wait(workerData.flag, 0, 0);
         Atomics.wait(workerData.flag, 0, 1, 50);
         wakeEngine(workerData.fd);
       });`,
      { eval: true, workerData: { flag, fd: engine.wakeFd, wakeModule } },
    );
    bed.onCleanup(() => worker.terminate().then(() => undefined));
    await new Promise((resolve) => worker.once('online', resolve));

    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const started = Date.now();
    const n = engine.receive(newBatch(BATCH), BATCH, 20_000);
    const elapsed = Date.now() - started;
    assert.equal(n, 0);
    assert.ok(elapsed < 5_000, `receive returned after ${elapsed} ms; the wake should end a 20 s wait`);
    // The wake was consumed: the next zero-timeout receive neither blocks nor reports anything.
    assert.equal(engine.receive(newBatch(BATCH), BATCH, 0), 0);
  });
}

test('memory engine: inject, receive in order, transmit, timeout and wake', () => {
  const pool = newPool(8);
  const engine = new MemoryEngine(pool);
  try {
    engine.addPort(2, -1);
    engine.addPort(5, -1);
    assert.throws(() => engine.inject(3, new Uint8Array(10)), /not open/);
    assert.throws(() => engine.inject(2, new Uint8Array(MAX_FRAME + 1)), /outside/);
    for (let i = 0; i < 10; i++) engine.inject(i % 2 === 0 ? 2 : 5, new Uint8Array([i, i, i]));

    const rx = newBatch(16);
    // The pool has 8 slots: the batch stops there and the rest stays queued.
    assert.equal(engine.receive(rx, 16, 0), 8);
    assert.equal(engine.pending(), 2);
    for (let i = 0; i < 8; i++) {
      assert.equal(rx.len[i], 3);
      assert.equal(rx.port[i], i % 2 === 0 ? 2 : 5);
      assert.equal(pool.bytes[pool.offsetOf(rx.slot[i]!) + HEADROOM], i);
    }

    const off = new Int32Array([pool.offsetOf(rx.slot[1]!) + HEADROOM, pool.offsetOf(rx.slot[0]!) + HEADROOM - 2]);
    const len = new Int32Array([3, 5]);
    assert.equal(engine.transmit(off, len, new Int32Array([5, 9]), 2), 1, 'port 9 is unknown');
    assert.deepEqual(engine.transmitted(), [{ port: 5, frame: new Uint8Array([1, 1, 1]) }]);
    engine.clearTransmitted();
    assert.deepEqual(engine.transmitted(), []);
    for (let i = 0; i < 8; i++) pool.free(rx.slot[i]!);

    assert.equal(engine.receive(rx, 16, 0), 2);
    for (let i = 0; i < 2; i++) pool.free(rx.slot[i]!);

    const started = Date.now();
    assert.equal(engine.receive(rx, 16, 30), 0);
    assert.ok(Date.now() - started >= 25, 'an empty receive waits for its timeout');

    engine.close();
  } finally {
    engine.close();
  }
  assert.equal(pool.available(), pool.slots);
});

test('memory engine: a pending wake ends the wait at once', async () => {
  const pool = newPool(4);
  const engine = new MemoryEngine(pool);
  try {
    const { wakeEngine } = await import('../../src/io/engine.js');
    wakeEngine(engine.wakeFd);
    const started = Date.now();
    assert.equal(engine.receive(newBatch(4), 4, 20_000), 0);
    assert.ok(Date.now() - started < 5_000);
  } finally {
    engine.close();
  }
});
