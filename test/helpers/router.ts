/**
 * Runs the real turtle6 binary inside a test namespace and talks to it through its control
 * socket and metrics endpoint, as an operator would.
 */
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ControlClient } from '../../src/app/control.js';
import { pollUntil, shortName, type Netns, type TestBed } from './netns.js';

export const TURTLE6 = resolve('dist/src/app/turtle6.js');
export const TURTLE6CTL = resolve('dist/src/app/turtle6ctl.js');
/** turtle6ctl as nobody, loaded before it drops privileges (ctl-as-nobody.ts); start it as root. */
export const TURTLE6CTL_AS_NOBODY = resolve('dist/test/helpers/ctl-as-nobody.js');

export interface RunningRouter {
  readonly ns: Netns;
  readonly dir: string;
  readonly socket: string;
  readonly process: ChildProcess;
  /** Everything the process printed (pino JSON lines and stderr). */
  output(): string;
  /** The pino log lines printed so far, parsed (a line still being written is left out). */
  logs(): LogLine[];
  ctl(command: string[], args?: Record<string, unknown>): Promise<unknown>;
  ctlText(command: string[]): Promise<string>;
  /** The sum of an interface counter over the lanes (from `show counters --json`). */
  counter(ifname: string, name: string): Promise<number>;
  counters(ifname: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** One route of `turtle6ctl show routes --json`, the fields the tests read. */
export interface ShownRoute {
  prefix: string;
  origin: string;
  best: boolean;
  nexthops: Array<{ interface: string; gateway: string | null }>;
}

export interface LogLine {
  readonly msg: string;
  readonly [key: string]: unknown;
}

function parseLogs(output: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of output.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(text) as { msg?: unknown };
      if (typeof parsed.msg === 'string') lines.push(parsed as LogLine);
    } catch {
      // The last line may be half written.
    }
  }
  return lines;
}

/**
 * The smallest router: one TAP port `ifname` with 2001:db8:1::1/64 in the router's own
 * namespace, one lane, no host port, no metrics; `extra` YAML (module sections) appended.
 */
export function onePortConfig(ifname: string, extra = ''): string {
  return `
interfaces:
  - name: ${ifname}
    addresses: [2001:db8:1::1/64]
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
${extra}`;
}

export interface StartOptions {
  /**
   * The command before `run --config FILE`: default this build's turtle6.js under this node;
   * an installed `PREFIX/bin/turtle6` (run through its shebang), or a wrapper such as setpriv.
   */
  readonly command?: readonly string[];
  /** Extra environment (NOTIFY_SOCKET, …). */
  readonly env?: Record<string, string>;
}

/**
 * Starts turtle6 in `ns` with the YAML `config` (its control socket and state directory are
 * filled in: put `${SOCKET}` and `${STATE}` where they go, or leave them out to get defaults
 * under a private directory).
 */
export async function startRouter(bed: TestBed, ns: Netns, config: string, timeoutMs = 20_000, options: StartOptions = {}): Promise<RunningRouter> {
  const dir = mkdtempSync(join(tmpdir(), 't6r-'));
  const socket = join(dir, 'turtle6.sock');
  let text = config;
  if (!/^control:/m.test(text)) text += `\ncontrol:\n  socket: ${socket}\n`;
  if (!/^stateDir:/m.test(text)) text += `\nstateDir: ${join(dir, 'state')}\n`;
  const file = join(dir, 'turtle6.yaml');
  writeFileSync(file, text);
  const argv = ['run', '--config', file];
  // An installed binary finds node on PATH through its `#!/usr/bin/env node`: this one's.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, ...options.env };
  const [cmd, ...args] = options.command ?? [process.execPath, TURTLE6];
  const child = bed.spawnIn(ns, cmd!, [...args, ...argv], { env });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const client = new ControlClient(socket);
  await pollUntil(
    'turtle6 to come up',
    () => {
      if (child.exitCode !== null) throw new Error(`turtle6 exited with ${child.exitCode}:\n${out}`);
      return existsSync(socket) && out.includes('turtle6 is up');
    },
    timeoutMs,
  );
  const ctl = async (command: string[], args?: Record<string, unknown>) => {
    const r = await client.request(command, args, true);
    if (!r.ok) throw new Error(`turtle6ctl ${command.join(' ')}: ${r.error}`);
    return r.data;
  };
  const counters = async (ifname: string) => {
    const data = (await ctl(['show', 'counters'])) as { interfaces: Array<{ interface: string; counters: Record<string, number> }> };
    const entry = data.interfaces.find((i) => i.interface === ifname);
    if (!entry) throw new Error(`no interface ${ifname} in show counters`);
    return entry.counters;
  };
  return {
    ns,
    dir,
    socket,
    process: child,
    output: () => out,
    logs: () => parseLogs(out),
    ctl,
    ctlText: async (command) => {
      const r = await client.request(command, undefined, false);
      if (!r.ok) throw new Error(`turtle6ctl ${command.join(' ')}: ${r.error}`);
      return r.text;
    },
    counters,
    counter: async (ifname, name) => (await counters(ifname))[name] ?? NaN,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await pollUntil('turtle6 to exit', () => child.exitCode !== null || child.signalCode !== null, 10_000);
    },
  };
}

/**
 * The bed for crafted input from a host: turtle6 in namespace `r` with one TAP port (`t6s…`,
 * 2001:db8:12::1/64, no RAs) whose kernel side is in namespace `s` (2001:db8:12::2/64, up),
 * metrics on [::1]:9469; `sections` YAML (the modules under test) appended. Returns the host's
 * link-local address too, once it has one.
 */
export async function routerWithOneHost(bed: TestBed, sections: string): Promise<{ router: RunningRouter; r: Netns; s: Netns; ifname: string; hostLinkLocal: string }> {
  const r = bed.netns('r');
  const s = bed.netns('s');
  const ifname = shortName('t6s');
  const router = await startRouter(bed, r, `
interfaces:
  - name: ${ifname}
    addresses: [2001:db8:12::1/64]
    netns: ${s.name}
    ra: { enabled: false }
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "[::1]:9469" }
${sections}`);
  s.ip('addr', 'add', '2001:db8:12::2/64', 'dev', ifname, 'nodad');
  s.ip('link', 'set', ifname, 'up');
  let hostLinkLocal = '';
  await pollUntil('a link-local address on the host', () => {
    hostLinkLocal = /inet6 (fe80::[0-9a-f:]+)\//.exec(s.ip('-6', 'addr', 'show', 'dev', ifname))?.[1] ?? '';
    return hostLinkLocal !== '';
  });
  return { router, r, s, ifname, hostLinkLocal };
}

/** GET http://LISTEN/metrics from inside `ns` (the router's namespace). */
export function scrapeMetrics(ns: Netns, listen = '[::1]:9469'): string {
  return ns.runOk(process.execPath, [
    '-e',
    `const r = await fetch('http://${listen}/metrics'); if (!r.ok) throw new Error(\`HTTP \${r.status}\`); process.stdout.write(await r.text());`,
    '--input-type=module',
  ]);
}

/** The global SLAAC address a kernel host formed on `ifname` inside `prefix` (e.g. "2001:db8:1:"). */
export function globalAddress(ns: Netns, ifname: string, prefix: string): string | null {
  const out = ns.run('ip', ['-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'global']).stdout;
  for (const line of out.split('\n')) {
    const m = /inet6 ([0-9a-f:]+)\/\d+/.exec(line);
    if (m && m[1]!.startsWith(prefix) && !line.includes('tentative')) return m[1]!;
  }
  return null;
}

export async function waitForSlaac(ns: Netns, ifname: string, prefix: string, timeoutMs = 15_000): Promise<string> {
  let addr: string | null = null;
  await pollUntil(`a SLAAC address in ${prefix}/64 on ${ns.name}/${ifname}`, () => (addr = globalAddress(ns, ifname, prefix)) !== null, timeoutMs, 100);
  return addr!;
}
