/**
 * Prometheus series for the data plane, computed at scrape time from the lanes' SAB counter
 * blocks (no per-packet work in the exporter). Every configured port has every series, at 0
 * when nothing happened (DESIGN.md: configured-but-down objects exist with the value 0).
 */
import { addHistogram, type Metrics } from '../observability/metrics.js';
import type { LaneSet } from '../dataplane/lanes.js';
import { FAILING_AFTER } from '../dataplane/lane-supervision.js';
import type { Stack } from '../stack/stack.js';
import { BATCH_BUCKETS, BATCH_HIST_BASE, BATCH_SUM, DROPS, ECMP_MEMBER_BASE, LANE, TRAFFIC, portCounter, sumCounter } from '../dataplane/counters.js';
import { FIB_MEMBER_COUNTERS } from '../shm/fib.js';
import { formatIpv6 } from '../lib/addr.js';

export function registerDataplaneMetrics(
  metrics: Metrics,
  lanes: LaneSet,
  stack: Stack,
  ports: () => ReadonlyArray<{ name: string; port: number }>,
): void {
  for (const [index, c] of TRAFFIC.entries()) {
    metrics.counter({ name: `interface_${c.name}_total`, help: c.help, labelNames: ['interface'] }, (emit) => {
      const blocks = lanes.counterBlocks();
      for (const p of ports()) emit({ interface: p.name }, sumCounter(blocks, portCounter(p.port, index)));
    });
  }
  metrics.counter({ name: 'interface_drops_total', help: 'Frames dropped by a lane, by ingress interface and reason', labelNames: ['interface', 'reason'] }, (emit) => {
    const blocks = lanes.counterBlocks();
    for (const p of ports()) {
      for (const [i, d] of DROPS.entries()) emit({ interface: p.name, reason: d.name }, sumCounter(blocks, portCounter(p.port, TRAFFIC.length + i)));
    }
  });
  metrics.counter({ name: 'control_plane_drops_total', help: 'Punted packets the control plane dropped, by reason', labelNames: ['reason'] }, (emit) => {
    for (const [reason, v] of Object.entries(stack.drops)) emit({ reason }, v);
  });
  metrics.gauge({ name: 'lane_ring_occupancy', help: 'Entries waiting in a lane ring', labelNames: ['lane', 'ring'] }, (emit) => {
    for (const s of lanes.status()) {
      emit({ lane: s.lane, ring: 'punt' }, s.puntRing);
      emit({ lane: s.lane, ring: 'inject' }, s.injectRing);
    }
  });
  metrics.gauge({ name: 'lane_up', help: '1 while the lane thread runs', labelNames: ['lane'] }, (emit) => {
    for (const s of lanes.status()) emit({ lane: s.lane }, s.running ? 1 : 0);
  });
  metrics.counter({ name: 'lane_restarts_total', help: 'Lanes restarted, by why: crash (died) or wedged (no heartbeat; thread terminated)', labelNames: ['lane', 'reason'] }, (emit) => {
    for (const s of lanes.status()) for (const [reason, n] of Object.entries(s.restartReasons)) emit({ lane: s.lane, reason }, n);
  });
  metrics.gauge({ name: 'lane_failing', help: `1 while a lane keeps dying soon after each restart (${FAILING_AFTER} times in a row)`, labelNames: ['lane'] }, (emit) => {
    for (const s of lanes.status()) emit({ lane: s.lane }, s.failing ? 1 : 0);
  });
  // The watchdog restarts a lane whose heartbeat stood still for WEDGED_AFTER_MS; exported so
  // that an alert also catches a stall the watchdog itself does not end.
  metrics.counter({ name: 'lane_heartbeats_total', help: 'Turns of the lane\'s loop, idle ones included: stands still only while the lane is stuck or down', labelNames: ['lane'] }, (emit) => {
    lanes.counterBlocks().forEach((b, lane) => emit({ lane }, b[LANE.heartbeat]!));
  });
  metrics.counter({ name: 'lane_batches_total', help: 'Non-empty batches processed', labelNames: ['lane'] }, (emit) => {
    lanes.counterBlocks().forEach((b, lane) => emit({ lane }, b[LANE.batches]!));
  });
  addHistogram(metrics, { name: 'lane_batch_size', help: 'Frames per non-empty batch', labelNames: ['lane'] }, () =>
    lanes.counterBlocks().map((b, lane) => {
      let cumulative = 0;
      return {
        labels: { lane },
        buckets: BATCH_BUCKETS.map((le, i) => [le, (cumulative += b[BATCH_HIST_BASE + i]!)] as const),
        sum: b[BATCH_SUM]!,
        count: b[LANE.batches]!,
      };
    }),
  );
  metrics.counter(
    {
      name: 'route_nexthop_packets_total',
      help: `Packets forwarded per ECMP member (routes with several next hops; connected routes never; the first ${FIB_MEMBER_COUNTERS} members seen)`,
      labelNames: ['prefix', 'interface', 'gateway'],
    },
    (emit) => {
      const blocks = lanes.counterBlocks();
      stack.rib.memberCounters().forEach((m, slot) => {
        const labels = { prefix: `${formatIpv6(m.prefix)}/${m.prefixLen}`, interface: ports().find((p) => p.port === m.port)?.name ?? String(m.port), gateway: m.gateway === null ? '' : formatIpv6(m.gateway) };
        emit(labels, sumCounter(blocks, ECMP_MEMBER_BASE + slot));
      });
    },
  );
  metrics.gauge({ name: 'fib_routes', help: 'Best routes in the FIB' }, (emit) => emit({}, stack.rib.bestRoutes().length));
  metrics.gauge({ name: 'neighbors', help: 'Neighbour cache entries', labelNames: ['interface'] }, (emit) => {
    const entries = stack.neighbors.entries();
    for (const p of ports()) emit({ interface: p.name }, entries.filter((e) => e.port === p.port).length);
  });
}
