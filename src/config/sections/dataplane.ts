/** `dataplane`: the worker lanes that forward packets. */
import { z } from 'zod';
import { flag, intInRange, numberInRange } from '../fields.js';
import { defineSection } from '../registry.js';
import { PacketPool, slotBytesForMtu } from '../../shm/pool.js';
import { PUNT_POLICING_DEFAULTS, type PuntClass } from '../../dataplane/punt-policer.js';

/** One class's token bucket; the lanes keep the rate per 1000 s in an int32. */
function puntRate(name: PuntClass) {
  const d = PUNT_POLICING_DEFAULTS[name];
  return z
    .strictObject({
      rate: numberInRange(1, 1_000_000, ' per second').default(d.rate),
      burst: intInRange(1, 1_000_000).default(d.burst),
    })
    .prefault({});
}

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
      // The ECMP flow hash seed (shm/fib.ts): fixed, a flow takes the same member after a restart.
      ecmpSeed: intInRange(0, 0xffff_ffff).optional(),
      // RFC 4443 §2.4(f): ICMPv6 errors are rate-limited with a token bucket.
      icmpErrors: z
        .strictObject({
          rate: numberInRange(0, 1_000_000, ' per second').default(100),
          burst: intInRange(1, 1_000_000).default(20),
        })
        .prefault({}),
      // RFC 6583 §7: what a lane punts to the control plane, per ingress port and class.
      puntPolicing: z
        .strictObject({ resolve: puntRate('resolve'), nd: puntRate('nd'), multicast: puntRate('multicast'), local: puntRate('local') })
        .prefault({}),
    })
    .prefault({}),
  {
    summary: 'Worker lanes, batching, I/O path, packet pool, ICMPv6 error rate limits and control-plane policing.',
    reload: { kind: 'restart-module', module: 'dataplane (icmpErrors and puntPolicing apply in place)' },
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
