/**
 * RIPng at scale, in the suite: BIRD originates 2,000 static /64s into RIP, turtle6 learns
 * them and re-advertises them, and a second BIRD holds all 2,000 (test/interop/bird/scale.ts
 * builds the chain). The 10,000-route run, with BIRD ⇄ BIRD beside it, is
 * bench/ripng-scale.ts: on this 2-core machine it takes too long for the suite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestBed } from '../helpers/netns.js';
import { runScaleChain } from './bird/scale.js';

const ROUTES = 2000;

test(`BIRD ⇄ turtle6 ⇄ BIRD carries ${ROUTES} RIPng routes end to end`, { timeout: 240_000 }, async (t) => {
  const bed = new TestBed('ripscale');
  t.after(() => bed.cleanup());
  const result = await runScaleChain(bed, { middle: 'turtle6', routes: ROUTES, timeoutMs: 120_000 });
  // turtle6 holds every static route plus B1's stub and the first link's prefix.
  assert.ok(result.middleRoutes !== null && result.middleRoutes >= ROUTES, `turtle6 holds ${result.middleRoutes} RIPng routes`);
  t.diagnostic(`converged in ${result.convergeMs} ms; turtle6 peak RSS ${result.middlePeakKiB} KiB (idle ${result.middleIdleKiB} KiB)`);
});
