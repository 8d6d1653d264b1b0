/**
 * `nd`: the router's own Neighbor Discovery timers (RFC 4861 §10), for address resolution
 * and reachability of its neighbours. (What hosts are told in RAs is `interfaces[].ra`.)
 */
import { z } from 'zod';
import { intInRange } from '../fields.js';
import { defineSection } from '../registry.js';

export const ndSection = defineSection(
  'nd',
  z
    .strictObject({
      reachableTime: intInRange(1000, 3_600_000, ' ms').default(30_000),
      retransTimer: intInRange(100, 60_000, ' ms').default(1000),
      delayFirstProbe: intInRange(100, 60_000, ' ms').default(5000),
      maxMulticastSolicit: intInRange(1, 10).default(3),
      maxUnicastSolicit: intInRange(1, 10).default(3),
      queueLimit: intInRange(1, 64).default(3),
      // RFC 6583 §7.1: a scan must not fill the cache with entries that never resolve.
      maxIncomplete: intInRange(1, 65_536).default(256),
    })
    .prefault({}),
  {
    summary: "The router's Neighbor Discovery timers: resolution retries, reachability, probes.",
    reload: { kind: 'restart-module', module: 'turtle6 (the neighbour cache is created at start)' },
  },
);

export type NdConfig = z.output<typeof ndSection.schema>;
