/**
 * One side of the ring stress test (test/shm/ring.test.ts). Entry `seq` carries slot = seq,
 * len = payloadLength(seq), port = seq & 0xffff, flags = seq ^ 0x5a5a5a5a and, when the ring
 * has inline data, payload bytes derived from seq; the consumer checks every field and byte,
 * so a lost, duplicated, reordered or torn entry is caught where it happens.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../../src/shm/ring.js';

export interface RingPeerData {
  role: 'producer' | 'consumer';
  sab: SharedArrayBuffer;
  capacity: number;
  dataBytes: number;
  count: number;
}

export interface RingPeerResult {
  entries: number;
  checksum: number;
  fullRetries: number;
  sleeps: number;
  /** Waits that ran out although the producer was still sending: a lost wake-up. */
  timeouts: number;
  error: string | null;
}

const { role, sab, capacity, dataBytes, count } = workerData as RingPeerData;
const ring = new SpscRing(sab, 0, capacity, dataBytes, false);

function payloadLength(seq: number): number {
  return dataBytes === 0 ? 0 : 1 + (seq % dataBytes);
}

function payloadByte(seq: number, i: number): number {
  return (seq * 31 + i * 7) & 0xff;
}

function produce(): RingPeerResult {
  let checksum = 0;
  let fullRetries = 0;
  for (let seq = 0; seq < count; seq++) {
    let entry = ring.tryReserve();
    while (entry < 0) {
      fullRetries++;
      entry = ring.tryReserve();
    }
    const len = payloadLength(seq);
    const at = ring.dataOffset(entry);
    for (let i = 0; i < len; i++) {
      ring.bytes[at + i] = payloadByte(seq, i);
      checksum = (checksum + payloadByte(seq, i)) | 0;
    }
    ring.setMeta(entry, seq, len, seq & 0xffff, seq ^ 0x5a5a5a5a);
    ring.publish();
  }
  return { entries: count, checksum, fullRetries, sleeps: 0, timeouts: 0, error: null };
}

function consume(): RingPeerResult {
  let checksum = 0;
  let sleeps = 0;
  let timeouts = 0;
  const deadline = Date.now() + 60_000;
  for (let seq = 0; seq < count; seq++) {
    let entry = ring.peek();
    while (entry < 0) {
      sleeps++;
      if (!ring.wait(2000)) {
        timeouts++;
        if (Date.now() > deadline) return { entries: seq, checksum, fullRetries: 0, sleeps, timeouts, error: `timed out waiting for entry ${seq}` };
      }
      entry = ring.peek();
    }
    const len = ring.len(entry);
    if (ring.slot(entry) !== seq || len !== payloadLength(seq) || ring.port(entry) !== (seq & 0xffff) || ring.flags(entry) !== (seq ^ 0x5a5a5a5a)) {
      return { entries: seq, checksum, fullRetries: 0, sleeps, timeouts, error: `entry ${seq}: got slot ${ring.slot(entry)} len ${len} port ${ring.port(entry)} flags ${ring.flags(entry)}` };
    }
    const at = ring.dataOffset(entry);
    for (let i = 0; i < len; i++) {
      const b = ring.bytes[at + i]!;
      if (b !== payloadByte(seq, i)) return { entries: seq, checksum, fullRetries: 0, sleeps, timeouts, error: `entry ${seq} byte ${i}: ${b}` };
      checksum = (checksum + b) | 0;
    }
    ring.release();
  }
  if (ring.peek() >= 0) return { entries: count, checksum, fullRetries: 0, sleeps, timeouts, error: 'an entry beyond the last was visible' };
  return { entries: count, checksum, fullRetries: 0, sleeps, timeouts, error: null };
}

parentPort!.postMessage(role === 'producer' ? produce() : consume());
