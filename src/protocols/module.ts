/**
 * The one lifecycle every protocol module has (BIRD's protocol interface, FRR's transaction):
 * start on a ModuleContext → reconfigure (in place, or the module alone restarts) → stop.
 * Modules never import one another; they meet in the stack. What they may touch is all in
 * the context: the StackApi, loggers, metrics, control commands and a state directory. The
 * context's types are declared here, so this layer imports nothing from the layers above
 * (config, observability, app), which implement them.
 */
import type { StackApi } from '../stack/stack-api.js';

export interface ModuleStatus {
  /** Machine-readable state for `turtle6ctl show <module> --json`. */
  readonly data: unknown;
  /** The same for people. */
  readonly text: string;
}

type LogMethod = (objOrMsg: object | string, msg?: string) => void;

export interface ModuleLogger {
  readonly trace: LogMethod;
  readonly debug: LogMethod;
  readonly info: LogMethod;
  readonly warn: LogMethod;
  readonly error: LogMethod;
}

export type MetricLabels = Partial<Record<string, string | number>>;
export type MetricEmit = (labels: MetricLabels, value: number) => void;

/** Prometheus series computed at scrape time (names get the `turtle6_` prefix). */
export interface ModuleMetrics {
  gauge(spec: { name: string; help: string; labelNames?: readonly string[] }, collect: (emit: MetricEmit) => void): void;
  /** `name` ends in `_total`; `collect` emits totals that only grow while the process lives. */
  counter(spec: { name: string; help: string; labelNames?: readonly string[] }, collect: (emit: MetricEmit) => void): void;
}

export interface ModuleCommandRequest {
  readonly command: readonly string[];
  readonly args?: Record<string, unknown>;
}

/** `turtle6ctl` commands, e.g. ['show', 'ripng'] or ['clear', 'ripng']. `rest` is the words after the path. */
export interface ModuleCommands {
  register(
    path: string[],
    handler: (request: ModuleCommandRequest, rest: string[]) => ModuleStatus | Promise<ModuleStatus>,
    help: string,
  ): void;
}

export interface ModuleContext {
  readonly api: StackApi;
  /** The module's logger (child with `module: <name>`). */
  readonly log: ModuleLogger;
  /** Rate-limited logger for per-packet events of one kind (e.g. `ripng.bad-port`). */
  limited(kind: string): ModuleLogger;
  readonly metrics: ModuleMetrics;
  readonly commands: ModuleCommands;
  /** A directory of the module's own under the configured state directory (created). */
  readonly stateDir: string;
}

export interface ProtocolModule<Config> {
  readonly name: string;
  start(ctx: ModuleContext, config: Config): void | Promise<void>;
  /**
   * Decides, at the reload's prepare stage and without changing anything, how `next` applies:
   * returns the step that applies it in place, or null when the module must restart for it
   * (the caller stops it and starts it again with `next`, this module alone). Deciding here
   * rather than while applying is what lets the reload report say which of the two happens.
   */
  prepareReconfigure(next: Config): (() => void | Promise<void>) | null;
  /** Stops timers and sockets, persists state, withdraws its routes. */
  stop(): void | Promise<void>;
  status(): ModuleStatus;
}
