/**
 * The one lifecycle every protocol module has (BIRD's protocol interface, FRR's transaction):
 * start on a StackApi → reconfigure (in place, or the module alone restarts) → stop.
 * Modules never import one another; they meet in the stack.
 */
import type { StackApi } from '../stack/stack-api.js';

export interface ModuleStatus {
  /** Machine-readable state for `turtle6ctl show <module> --json`. */
  readonly data: unknown;
  /** The same for people. */
  readonly text: string;
}

export interface ProtocolModule<Config> {
  readonly name: string;
  start(api: StackApi, config: Config): void;
  /** Applies `next` in place and returns true, or returns false: the caller restarts the module. */
  reconfigure(next: Config): boolean;
  stop(): void;
  status(): ModuleStatus;
}
