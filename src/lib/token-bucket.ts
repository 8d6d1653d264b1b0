/**
 * A token bucket over a caller-supplied time, with no allocation per call, so lanes can use
 * it per packet (RFC 4443 §2.4(f) rate-limits ICMPv6 errors this way) and loggers per message.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private ratePerSecond: number, private burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if available. `now` is in milliseconds. */
  take(now: number): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  reconfigure(ratePerSecond: number, burst: number): void {
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }
}
