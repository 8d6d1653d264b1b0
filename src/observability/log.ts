/**
 * Logging: pino JSON lines on stdout, one child logger per module with stable fields
 * (`module`, `ifname`, `peer`) so log queries do not depend on message text, and a
 * per-kind rate limit in the spirit of BIRD's `log_rl`: a flood of identical complaints
 * (a peer sending garbage every millisecond) costs a few lines and one summary.
 *
 * None of this runs on the lanes' fast path: lanes count drops; the main thread logs.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { REDACTED } from '../lib/secret.js';
import { TokenBucket } from '../lib/token-bucket.js';
import type { LogLevel } from '../config/schema.js';

export type { Logger } from 'pino';

export interface RootLoggerOptions {
  readonly level: LogLevel;
  /** Defaults to stdout; tests pass a stream to read the lines back. */
  readonly destination?: DestinationStream;
}

/**
 * A backstop: key material in turtle6 is a Secret, which prints as <redacted> by itself
 * (lib/secret.ts), but a key field logged as raw text or bytes by mistake is censored too.
 */
const REDACT_PATHS = ['encKey', 'authKey', 'secret'].flatMap((field) => [field, `*.${field}`]);

export function createRootLogger(options: RootLoggerOptions): Logger {
  const settings = {
    level: options.level,
    base: { app: 'turtle6' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

export interface ModuleLogFields {
  /** The interface the module instance works on. */
  readonly ifname?: string;
  /** The remote router, server or client, as an address string. */
  readonly peer?: string;
}

export function moduleLogger(root: Logger, module: string, fields: ModuleLogFields = {}): Logger {
  return root.child({ module, ...fields });
}

type LogMethod = (objOrMsg: object | string, msg?: string) => void;

/** The logging calls a rate-limited kind offers; each either logs or counts a suppression. */
export interface LimitedLogger {
  readonly trace: LogMethod;
  readonly debug: LogMethod;
  readonly info: LogMethod;
  readonly warn: LogMethod;
  readonly error: LogMethod;
}

interface KindState {
  readonly bucket: TokenBucket;
  readonly logger: LimitedLogger;
  suppressed: number;
  report: TimerHandle | null;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export class RateLimitedLog {
  private readonly kinds = new Map<string, KindState>();

  constructor(
    private readonly logger: Logger,
    private ratePerKind: number,
    private readonly clock: Clock,
  ) {}

  /** The logger for messages of `kind` (e.g. "ripng.bad-source"); at most ratePerKind lines per second pass. */
  limited(kind: string): LimitedLogger {
    let state = this.kinds.get(kind);
    if (state === undefined) {
      const child = this.logger.child({ kind });
      const created: KindState = {
        bucket: new TokenBucket(this.ratePerKind, this.burst(), this.clock.now()),
        suppressed: 0,
        report: null,
        logger: Object.fromEntries(
          LEVELS.map((level) => [
            level,
            (objOrMsg: object | string, msg?: string) => {
              if (!created.bucket.take(this.clock.now())) {
                this.suppress(kind, created);
                return;
              }
              if (typeof objOrMsg === 'string') child[level](objOrMsg);
              else child[level](objOrMsg, msg);
            },
          ]),
        ) as unknown as LimitedLogger,
      };
      state = created;
      this.kinds.set(kind, state);
    }
    return state.logger;
  }

  /** Applies a reloaded `log.ratePerKind` in place; suppression counts carry over. */
  reconfigure(ratePerKind: number): void {
    this.ratePerKind = ratePerKind;
    for (const state of this.kinds.values()) state.bucket.reconfigure(ratePerKind, this.burst());
  }

  /** Reports pending suppression counts now (on shutdown) and cancels their timers. */
  flush(): void {
    for (const [kind, state] of this.kinds) {
      state.report?.cancel();
      this.report(kind, state);
    }
  }

  /** A second's worth of lines may pass at once, and at least one. */
  private burst(): number {
    return Math.max(1, this.ratePerKind);
  }

  private suppress(kind: string, state: KindState): void {
    state.suppressed++;
    if (state.report !== null) return;
    // Report when the bucket has refilled one token, i.e. when this kind could log again.
    state.report = this.clock.setTimer(1000 / this.ratePerKind, () => this.report(kind, state));
  }

  private report(kind: string, state: KindState): void {
    state.report = null;
    if (state.suppressed === 0) return;
    this.logger.warn({ kind, suppressed: state.suppressed }, 'log lines suppressed by rate limit');
    state.suppressed = 0;
  }
}
