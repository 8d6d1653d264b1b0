/** `dataplane`: the worker lanes that forward packets. */
import { z } from 'zod';
import { flag, intInRange, numberInRange } from '../fields.js';
import { defineSection } from '../registry.js';
import { PacketPool, slotBytesForMtu } from '../../shm/pool.js';

/** A lane's pool is one SharedArrayBuffer; the C helpers take its offsets as int32. */
const MAX_POOL_BYTES = 1024 * 1024 * 1024;

export const dataplaneSection = defineSection(
  'dataplane',
  z
    .strictObject({
      lanes: intInRange(1, 64).default(1),
      batch: intInRange(1, 256).default(64),
      io: z.enum(['auto', 'uring', 'syscall'], { error: 'auto, uring or syscall' }).default('auto'),
      poolSlots: intInRange(256, 262_144).default(4096),
      hostInterface: flag().default(true),
      // RFC 4443 §2.4(f): ICMPv6 errors are rate-limited with a token bucket.
      icmpErrors: z
        .strictObject({
          rate: numberInRange(0, 1_000_000, ' per second').default(100),
          burst: intInRange(1, 1_000_000).default(20),
        })
        .prefault({}),
    })
    .prefault({}),
  {
    summary: 'Worker lanes, batching, I/O path, packet pool and ICMPv6 error rate limits.',
    reload: { kind: 'restart-module', module: 'dataplane (icmpErrors alone applies in place)' },
  },
  (dp, ctx) => {
    const slotBytes = slotBytesForMtu(ctx.largestMtu);
    if (PacketPool.byteLength(dp.poolSlots, slotBytes) > MAX_POOL_BYTES) {
      const most = Math.floor(MAX_POOL_BYTES / (slotBytes + 4)) - 1;
      ctx.report(['poolSlots'], `at most ${most} slots with an MTU of ${ctx.largestMtu} (slots of ${slotBytes} bytes; a lane's pool is at most 1 GiB)`);
    }
  },
);

export type DataplaneConfig = z.output<typeof dataplaneSection.schema>;
