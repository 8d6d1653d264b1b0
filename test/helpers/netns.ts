/**
 * Throwaway network namespaces for tests. Every namespace, interface and process a test
 * makes is registered with a TestBed and removed by cleanup(), which tests call from
 * t.after()/finally so that nothing is left behind when an assertion fails.
 *
 * Names: namespaces are `t6t-<tag>-<n>`; interface names must stay ≤ 15 characters, so
 * use shortName() for them.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without a shell. */
export function run(cmd: string, args: readonly string[], input?: string): ExecResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) return { code: 127, stdout: '', stderr: String(r.error) };
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Runs a command and throws with its output when it fails. */
export function runOk(cmd: string, args: readonly string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Fails loudly when an interop peer or tool is missing: tests never skip silently. */
export function requireCommand(command: string, debianPackage: string): void {
  const r = run('sh', ['-c', `command -v ${command}`]);
  if (r.code !== 0) {
    throw new Error(`required peer '${command}' is missing: install the Debian package '${debianPackage}' (.ci/run does this)`);
  }
}

/** A short random tag, so parallel test files never collide on names. */
export function shortName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`.slice(0, 15);
}

/** Polls `check` until it returns true, or throws after timeoutMs naming `what`. */
export async function pollUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class Netns {
  constructor(readonly name: string) {}

  /** Runs a command inside the namespace. */
  run(cmd: string, args: readonly string[] = [], input?: string): ExecResult {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  runOk(cmd: string, args: readonly string[] = [], input?: string): string {
    return runOk('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  /** `ip ...` inside the namespace. */
  ip(...args: string[]): string {
    return runOk('ip', ['-n', this.name, ...args]);
  }

  sysctl(key: string, value: string): void {
    this.runOk('sysctl', ['-qw', `${key}=${value}`]);
  }
}

export class TestBed {
  private readonly namespaces: Netns[] = [];
  private readonly processes: ChildProcess[] = [];
  private readonly cleanups: Array<() => void | Promise<void>> = [];
  readonly tag: string;

  constructor(tag: string) {
    this.tag = `${tag}-${randomBytes(2).toString('hex')}`;
  }

  /** Creates a namespace with loopback up and DAD disabled (PEERS.md: avoids 1–2 s stalls). */
  netns(name: string): Netns {
    const full = `t6t-${this.tag}-${name}`;
    runOk('ip', ['netns', 'add', full]);
    const ns = new Netns(full);
    this.namespaces.push(ns);
    ns.ip('link', 'set', 'lo', 'up');
    for (const k of ['all', 'default']) {
      ns.sysctl(`net.ipv6.conf.${k}.accept_dad`, '0');
      ns.sysctl(`net.ipv6.conf.${k}.dad_transmits`, '0');
    }
    return ns;
  }

  /** Starts a long-running process; it is killed (SIGTERM, then SIGKILL) by cleanup(). */
  spawn(cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.processes.push(child);
    return child;
  }

  /** Starts a process inside a namespace. */
  spawnIn(ns: Netns, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return this.spawn('ip', ['netns', 'exec', ns.name, cmd, ...args], options);
  }

  onCleanup(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        /* keep cleaning up */
      }
    }
    for (const p of this.processes) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    }
    const deadline = Date.now() + 3000;
    for (const p of this.processes) {
      while (p.exitCode === null && p.signalCode === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    for (const ns of this.namespaces.reverse()) {
      // Kill anything left in the namespace (daemons that forked), then delete it.
      const pids = run('ip', ['netns', 'pids', ns.name]).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) run('kill', ['-9', pid]);
      run('ip', ['netns', 'del', ns.name]);
    }
  }
}
