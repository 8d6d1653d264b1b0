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
import { HEADROOM, MIN_SLOT_BYTES, PacketPool } from '../../src/shm/pool.js';
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
  return new PacketPool(new SharedArrayBuffer(PacketPool.byteLength(slots, MIN_SLOT_BYTES)), slots, MIN_SLOT_BYTES, true);
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
    const sent = new Uint8Array(FRAMES);
    assert.equal(engine.transmit(txOff, txLen, txPort, FRAMES, sent), FRAMES);
    assert.ok(sent.every((s) => s === 1), 'every frame reported written');
    // Failures anywhere in a batch, not only at its end, show in each frame's own result
    // (the generator reads only its FRAMES datagrams, so the extra copy goes unread).
    const mixed = new Uint8Array(3);
    const mixedOff = new Int32Array([txOff[0]!, pool.bytes.byteLength - 10, txOff[0]!]);
    const mixedLen = new Int32Array([txLen[0]!, 64, txLen[0]!]);
    assert.equal(engine.transmit(mixedOff, mixedLen, new Int32Array([PORT + 1, PORT, PORT]), 3, mixed), 1);
    assert.deepEqual([...mixed], [0, 0, 1], 'an unknown port and a frame reaching past the pool are not written; the last frame is');
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

for (const kind of ['uring', 'syscall'] as const) {
  test(`${kind} engine: a frame longer than a slot fills the frame area and nothing past the slot is written`, async (t) => {
    requireCommand('python3', 'python3');
    const bed = new TestBed(`io-big-${kind}`);
    t.after(() => bed.cleanup());
    const ns = bed.netns('a');
    const dev = openTunTap({ name: shortName('t6big'), kind: 'tun', queues: 1 });
    bed.onCleanup(() => closeTunTap(dev));
    moveToNetns(dev.name, ns.name);
    // The kernel side may send what its MTU allows: 9000 bytes, into 2 KiB slots.
    ns.ip('link', 'set', dev.name, 'mtu', '9000', 'up');
    ns.ip('addr', 'add', 'fd00:4::1/64', 'dev', dev.name, 'nodad');

    const pool = newPool(8);
    const CANARY = 0x5a;
    pool.bytes.fill(CANARY);
    const engine = createEngine(kind, pool);
    bed.onCleanup(() => engine.close());
    engine.addPort(0, dev.fds[0]!);
    const send = bed.spawnIn(ns, 'python3', ['-c', `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b'J' * 8000, ('fd00:4::2', 9))
s.sendto(b'small', ('fd00:4::2', 9))
print('sent', flush=True)
`]);
    const stdout = collectStdout(send);
    await pollUntil('the sender to send', () => stdout().includes('sent'));

    const rx = newBatch(BATCH);
    const lens: number[] = [];
    const deadline = Date.now() + 5_000;
    while (!lens.some((l) => l < 200 && l > 40 + 8) && Date.now() < deadline) {
      const n = engine.receive(rx, 4, 500);
      for (let i = 0; i < n; i++) {
        const start = pool.offsetOf(rx.slot[i]!);
        if (pool.bytes[start + HEADROOM + 6] === 17) lens.push(rx.len[i]!);
        // Outside this slot's frame area nothing changed: the headroom of this slot, and
        // (checked below, over the whole pool) every other slot's headroom.
        assert.ok(pool.bytes.subarray(start, start + HEADROOM).every((b) => b === CANARY), 'the headroom is untouched');
        pool.bytes.fill(CANARY, start + HEADROOM, start + pool.slotBytes);
        pool.free(rx.slot[i]!);
      }
    }
    // Kernels differ: the read returns the datagram's full length or what it copied; either
    // way the length fills the frame area, which is how the lane tells it was cut short.
    assert.equal(lens.length, 2, `the jumbo datagram, then the small one: ${lens.join(',')}`);
    assert.ok(lens[0] === 40 + 8 + 8000 || lens[0] === pool.frameCapacity, `jumbo reported as ${lens[0]}`);
    assert.equal(lens[1], 40 + 8 + 5);
    engine.close();
    assert.ok(pool.bytes.every((b) => b === CANARY), 'no byte past any slot\'s frame area was written');
    pool.checkFreeList();
  });

  test(`${kind} engine: each receive starts at the next port, so a flooded port cannot starve the others`, async (t) => {
    requireCommand('python3', 'python3');
    const bed = new TestBed(`io-fair-${kind}`);
    t.after(() => bed.cleanup());
    const ns = bed.netns('a');
    const pool = newPool(256);
    const engine = createEngine(kind, pool);
    bed.onCleanup(() => engine.close());
    for (const [port, net] of [[0, 5], [1, 6]] as const) {
      const dev = openTunTap({ name: shortName(`t6f${port}`), kind: 'tun', queues: 1 });
      bed.onCleanup(() => closeTunTap(dev));
      moveToNetns(dev.name, ns.name);
      ns.ip('link', 'set', dev.name, 'up');
      ns.ip('addr', 'add', `fd00:${net}::1/64`, 'dev', dev.name, 'nodad');
      engine.addPort(port, dev.fds[0]!);
    }
    // Both queues hold far more than a batch before the first receive.
    const send = bed.spawnIn(ns, 'python3', ['-c', `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(150):
    s.sendto(b'x', ('fd00:5::2', 9))
    s.sendto(b'x', ('fd00:6::2', 9))
print('sent', flush=True)
`]);
    const stdout = collectStdout(send);
    await pollUntil('the sender to send', () => stdout().includes('sent'));
    const rx = newBatch(32);
    const firstPorts: number[] = [];
    for (let round = 0; round < 4; round++) {
      const n = engine.receive(rx, 32, 1000);
      assert.equal(n, 32, 'the queues hold more than a batch');
      firstPorts.push(rx.port[0]!);
      for (let i = 0; i < n; i++) pool.free(rx.slot[i]!);
    }
    assert.ok(firstPorts.includes(0) && firstPorts.includes(1), `every port leads some batch: ${firstPorts.join(',')}`);
  });
}

test('memory engine: a frame longer than a slot is truncated and reported at its full length, as some kernels do', () => {
  const pool = newPool(2);
  const engine = new MemoryEngine(pool);
  try {
    engine.addPort(0, -1);
    pool.bytes.fill(0x5a);
    engine.inject(0, new Uint8Array(pool.frameCapacity + 100).fill(1));
    const rx = newBatch(2);
    assert.equal(engine.receive(rx, 2, 0), 1);
    assert.equal(rx.len[0], pool.frameCapacity + 100);
    const start = pool.offsetOf(rx.slot[0]!);
    assert.ok(pool.bytes.subarray(start + HEADROOM, start + pool.slotBytes).every((b) => b === 1));
    const other = pool.offsetOf(1 - rx.slot[0]!);
    assert.ok(pool.bytes.subarray(other, other + pool.slotBytes).every((b) => b === 0x5a), 'the other slot is untouched');
    pool.free(rx.slot[0]!);
  } finally {
    engine.close();
  }
});

test('memory engine: inject, receive in order, transmit, timeout and wake', () => {
  const pool = newPool(8);
  const engine = new MemoryEngine(pool);
  try {
    engine.addPort(2, -1);
    engine.addPort(5, -1);
    assert.throws(() => engine.inject(3, new Uint8Array(10)), /not open/);
    assert.throws(() => engine.inject(2, new Uint8Array(70_000)), /outside/);
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
    const sent = new Uint8Array(2);
    assert.equal(engine.transmit(off, len, new Int32Array([5, 9]), 2, sent), 1, 'port 9 is unknown');
    assert.deepEqual([...sent], [1, 0]);
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
