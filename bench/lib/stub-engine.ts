/**
 * A lane harness's engine turned into an endless source and a bottomless sink (bench/lane-ab.ts,
 * bench/mfc.ts): every receive fills the batch with copies of `frame` on `port`, every transmit
 * succeeds. The harness may be another checkout's (lane-ab loads it from its dist/), so it is
 * typed by what is used and the headroom comes from that checkout too.
 */
interface StubbableHarness {
  readonly pool: { readonly sab: SharedArrayBuffer; alloc(): number; offsetOf(slot: number): number };
  readonly engine: {
    receive: (rx: { slot: Int32Array; len: Int32Array; port: Int32Array }, max: number, timeoutMs: number) => number;
    transmit: (off: Int32Array, len: Int32Array, port: Int32Array, n: number, sent: Uint8Array) => number;
  };
}

export function stubEngine(harness: StubbableHarness, frame: Uint8Array, port: number, headroom: number): void {
  const pool = harness.pool;
  const b = new Uint8Array(pool.sab);
  harness.engine.receive = (rx, max) => {
    for (let i = 0; i < max; i++) {
      const slot = pool.alloc();
      b.set(frame, pool.offsetOf(slot) + headroom);
      rx.slot[i] = slot;
      rx.len[i] = frame.length;
      rx.port[i] = port;
    }
    return max;
  };
  harness.engine.transmit = (_off, _len, _port, n, sent) => {
    sent.fill(1, 0, n);
    return n;
  };
}
