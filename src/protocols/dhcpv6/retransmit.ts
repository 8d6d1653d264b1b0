/**
 * Client retransmission (RFC 8415 §15): each exchange retransmits with a timeout that starts
 * near IRT, doubles, is capped near MRT, and stops after MRC transmissions or MRD
 * milliseconds. Every timeout carries a random factor RAND in [-0.1, +0.1] so that clients
 * on one link do not synchronise.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import { uniform, type Rng } from '../../lib/rng.js';

/** §15 parameters in milliseconds; 0 for MRT, MRC or MRD means "no limit". */
export interface RetransmitParams {
  readonly irt: number;
  readonly mrt: number;
  readonly mrc: number;
  readonly mrd: number;
}

/** §7.6 transmission and retransmission parameters, in milliseconds. */
export const SOL_MAX_DELAY = 1_000;
export const SOL_TIMEOUT = 1_000;
export const SOL_MAX_RT = 3_600_000;
export const REQ_TIMEOUT = 1_000;
export const REQ_MAX_RT = 30_000;
export const REQ_MAX_RC = 10;
export const REN_TIMEOUT = 10_000;
export const REN_MAX_RT = 600_000;
export const REB_TIMEOUT = 10_000;
export const REB_MAX_RT = 600_000;
export const INF_MAX_DELAY = 1_000;
export const INF_TIMEOUT = 1_000;
export const INF_MAX_RT = 3_600_000;
export const REL_TIMEOUT = 1_000;
export const REL_MAX_RC = 4;
export const CNF_MAX_DELAY = 1_000;

/**
 * The next retransmission timeout. §15: "RT for the first message transmission is based on
 * IRT: RT = IRT + RAND*IRT"; then "RT = 2*RTprev + RAND*RTprev"; and "if (RT > MRT) RT = MRT
 * + RAND*MRT". For the first Solicit "RAND MUST be strictly greater than 0" (§18.2.1), so
 * the first Advertise can be collected for a full IRT.
 */
export function nextTimeout(rng: Rng, params: RetransmitParams, previous: number | null, positiveRand = false): number {
  const rand = () => uniform(rng, positiveRand && previous === null ? Number.EPSILON : -0.1, 0.1);
  let rt = previous === null ? params.irt + rand() * params.irt : 2 * previous + rand() * previous;
  if (params.mrt > 0 && rt > params.mrt) rt = params.mrt + uniform(rng, -0.1, 0.1) * params.mrt;
  return rt;
}

/**
 * One exchange's transmissions: `send(elapsedMs)` is called at once and at each timeout;
 * `giveUp()` when MRC or MRD ends it (§15: "the message exchange fails"). The elapsed time
 * since the first transmission goes into the Elapsed Time option (§21.9).
 */
export class Retransmitter {
  private timer: TimerHandle | null = null;
  private rt: number | null = null;
  private count = 0;
  private readonly startedAt: number;

  constructor(
    private readonly clock: Clock,
    private readonly rng: Rng,
    private readonly params: RetransmitParams,
    private readonly send: (elapsedMs: number) => void,
    private readonly giveUp: () => void,
    private readonly positiveFirstRand = false,
  ) {
    this.startedAt = clock.now();
    this.transmit();
  }

  /** Transmissions so far. */
  get transmissions(): number {
    return this.count;
  }

  /** The current timeout (ms), for tests and `show dhcp client`. */
  get timeout(): number | null {
    return this.rt;
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private transmit(): void {
    this.count++;
    this.send(this.clock.now() - this.startedAt);
    this.rt = nextTimeout(this.rng, this.params, this.rt, this.positiveFirstRand);
    let wait = this.rt;
    if (this.params.mrd > 0) {
      // §15: "MRD specifies an upper bound on the length of time a client may retransmit."
      const left = this.startedAt + this.params.mrd - this.clock.now();
      if (left <= 0) return this.finish();
      wait = Math.min(wait, left);
    }
    this.timer = this.clock.setTimer(wait, () => {
      this.timer = null;
      if (this.params.mrc > 0 && this.count >= this.params.mrc) return this.finish();
      if (this.params.mrd > 0 && this.clock.now() - this.startedAt >= this.params.mrd) return this.finish();
      this.transmit();
    });
  }

  private finish(): void {
    this.cancel();
    this.giveUp();
  }
}
