/**
 * A lane-like snapshot reader for test/shm/snapshot.test.ts: each "batch" acquires the table
 * and checks that every int32 word of it equals the generation it was published as, scanning
 * twice so a concurrent overwrite has a window to show. Every `idleEvery` batches it goes
 * idle and sleeps briefly, as a lane does on an empty ring.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SnapshotReader, type SnapshotHandle } from '../../../src/shm/snapshot.js';

export interface SnapshotReaderData {
  handle: SnapshotHandle;
  reader: number;
  /** Int32 [stop, started]: the writer sets stop to 1 when done; each reader adds 1 to started. */
  stop: SharedArrayBuffer;
  idleEvery: number;
}

export interface SnapshotReaderResult {
  batches: number;
  generationsSeen: number;
  lastGeneration: number;
  error: string | null;
}

const { handle, reader: index, stop, idleEvery } = workerData as SnapshotReaderData;
const reader = new SnapshotReader(handle, index);
const stopFlag = new Int32Array(stop);
const nap = new Int32Array(new SharedArrayBuffer(4));

function run(): SnapshotReaderResult {
  let batches = 0;
  let generationsSeen = 0;
  let last = -1;
  Atomics.add(stopFlag, 1, 1);
  while (Atomics.load(stopFlag, 0) === 0) {
    if (reader.acquire()) generationsSeen++;
    const g = reader.generation;
    if (g < last) return { batches, generationsSeen, lastGeneration: last, error: `generation went back from ${last} to ${g}` };
    last = g;
    const words = new Int32Array(reader.bytes.buffer, 0, reader.size >>> 2);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < words.length; i++) {
        if (words[i] !== g) return { batches, generationsSeen, lastGeneration: g, error: `torn table: word ${i} of generation ${g} reads ${words[i]}` };
      }
    }
    batches++;
    if (batches % idleEvery === 0) {
      reader.idle();
      Atomics.wait(nap, 0, 0, 1);
    }
  }
  return { batches, generationsSeen, lastGeneration: last, error: null };
}

parentPort!.postMessage(run());
