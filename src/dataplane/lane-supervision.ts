/**
 * How the main thread supervises a lane (LaneSet): when to start it again after it died, when
 * to call it failing, and when to call it wedged. Pure bookkeeping over timestamps in
 * milliseconds, so a test drives it with plain numbers; docs/ARCHITECTURE.md ("Lanes and
 * piscina") explains the constants.
 */
import { LANE } from './counters.js';

/** The second death in a row waits this long, each further one twice as long as the last … */
export const RESTART_BASE_MS = 100;
/** … up to this. */
export const RESTART_MAX_MS = 10_000;
/** A lane that ran this long before it died was healthy: its next death counts as a first. */
export const HEALTHY_MS = 30_000;
/** This many deaths in a row, each before the lane ran HEALTHY_MS, make the lane failing. */
export const FAILING_AFTER = 5;
/** A running lane whose heartbeat has not moved for this long is wedged. */
export const WEDGED_AFTER_MS = 3_000;
/** How often the watchdog samples the heartbeats. */
export const WATCHDOG_INTERVAL_MS = 1_000;

/** Restart delays for one lane: 0, 100 ms, 200 ms, 400 ms … 10 s, for deaths in a row. */
export class RestartBackoff {
  /** Deaths in a row, each before the lane had run HEALTHY_MS. */
  deaths = 0;
  /** When the current run started; NaN while the lane is down. */
  private startedAt = Number.NaN;

  started(now: number): void {
    this.startedAt = now;
  }

  /** The current run ended in a death at `now`: returns how long to wait before the next start. */
  died(now: number): number {
    if (now - this.startedAt >= HEALTHY_MS) this.deaths = 0;
    this.startedAt = Number.NaN;
    this.deaths++;
    return this.deaths === 1 ? 0 : Math.min(RESTART_BASE_MS * 2 ** (this.deaths - 2), RESTART_MAX_MS);
  }

  /** Called now and then: a lane that has been running HEALTHY_MS is no longer failing. */
  check(now: number): void {
    if (now - this.startedAt >= HEALTHY_MS) this.deaths = 0;
  }

  get failing(): boolean {
    return this.deaths >= FAILING_AFTER;
  }
}

/**
 * A lane's heartbeat (a counter it bumps once per turn of its loop, idle turns included) as
 * the watchdog last saw it. A running lane beats at least every IDLE_WAIT_MS (100 ms, its
 * longest wait in the kernel), so a beat that stands still for WEDGED_AFTER_MS means the lane
 * is stuck inside one turn.
 */
export class HeartbeatWatch {
  private last = Number.NaN;
  private since = 0;

  /** Forget the last sample: the lane is not running, or was just started. */
  reset(): void {
    this.last = Number.NaN;
  }

  /**
   * Samples the heartbeat in the lane's counter block at `now`; true when it has not moved
   * for WEDGED_AFTER_MS. Only a beat seen twice unchanged counts, so a main thread that was
   * itself blocked for a while does not take a lane that kept beating for a stuck one.
   */
  stuck(counters: Float64Array, now: number): boolean {
    const beat = counters[LANE.heartbeat]!;
    if (beat !== this.last) {
      this.last = beat;
      this.since = now;
      return false;
    }
    return now - this.since >= WEDGED_AFTER_MS;
  }
}
