/**
 * The benchmark's traffic: a generator run (bench/ref/gen.c `send`) and a long-running sink
 * (`gen sink`), each a separate process inside a namespace, talking JSON lines on stdout.
 */
import type { ChildProcess } from 'node:child_process';
import { pollUntil, type Netns, type TestBed } from '../../test/helpers/netns.js';

/** Reads a child's stdout line by line and lets callers wait for the next matching line. */
class LineReader {
  private readonly lines: string[] = [];
  private partial = '';
  private stderr = '';

  constructor(readonly child: ChildProcess, readonly what: string) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
  }

  /** Waits for a line that `accept` recognises, consuming every line up to it. */
  async next<T>(what: string, accept: (line: string) => T | undefined, timeoutMs = 10_000): Promise<T> {
    let found: T | undefined;
    await pollUntil(
      `${this.what}: ${what}`,
      () => {
        while (this.lines.length > 0) {
          found = accept(this.lines.shift()!);
          if (found !== undefined) return true;
        }
        if (this.child.exitCode !== null) {
          throw new Error(`${this.what} exited with ${this.child.exitCode}: ${this.stderr.trim()}`);
        }
        return false;
      },
      timeoutMs,
      5,
    );
    return found!;
  }
}

function json<T>(line: string): T | undefined {
  return line.startsWith('{') ? (JSON.parse(line) as T) : undefined;
}

export interface SinkReport {
  /** CLOCK_MONOTONIC seconds when the sink answered. */
  readonly t: number;
  readonly packets: number;
  readonly bytes: number;
  /** Packets that reached the sink's interface but found its ring full. */
  readonly ringDrops: number;
  /** One-way latency of the stamped packets since the previous report, in ns. */
  readonly latency: { n: number; p50: number; p99: number };
}

/** Packets that made it through the forwarder to the sink's interface. */
export function delivered(r: SinkReport): number {
  return r.packets + r.ringDrops;
}

export class Sink {
  private readonly reader: LineReader;

  private constructor(private readonly child: ChildProcess, what: string) {
    this.reader = new LineReader(child, what);
  }

  static async start(bed: TestBed, bin: string, ns: Netns, ifname: string): Promise<Sink> {
    const sink = new Sink(bed.spawnIn(ns, bin, ['sink', '--if', ifname]), `sink on ${ns.name}/${ifname}`);
    await sink.reader.next('to listen', (l) => (l === 'listening' ? true : undefined));
    return sink;
  }

  /** Asks for the counters so far (SIGUSR1) and waits for the answer. */
  async report(): Promise<SinkReport> {
    this.child.kill('SIGUSR1');
    return this.reader.next('a report', (l) => json<SinkReport>(l));
  }
}

export interface GeneratorOptions {
  readonly ifname: string;
  /** The MAC of the forwarder's ingress port. */
  readonly dstMac: string;
  /** IPv6 packet size in bytes, header included. */
  readonly size: number;
  readonly flows: number;
  /** A file of destination addresses, one per line; otherwise 2001:db8:99::1. */
  readonly dstFile?: string;
  /** Packets per second; 0 floods. */
  readonly rate: number;
  readonly seconds?: number;
  readonly count?: number;
  /** Put CLOCK_REALTIME stamps in the payload for latency. */
  readonly stamp?: boolean;
}

export interface GeneratorResult {
  readonly sent: number;
  readonly errors: number;
  readonly seconds: number;
}

export class Generator {
  private readonly reader: LineReader;

  private constructor(private readonly child: ChildProcess, what: string) {
    this.reader = new LineReader(child, what);
  }

  static async start(bed: TestBed, bin: string, ns: Netns, o: GeneratorOptions): Promise<Generator> {
    const args = ['send', '--if', o.ifname, '--dst-mac', o.dstMac, '--size', String(o.size), '--flows', String(o.flows)];
    args.push('--rate', String(o.rate));
    if (o.dstFile) args.push('--dst-file', o.dstFile);
    if (o.seconds !== undefined) args.push('--seconds', String(o.seconds));
    if (o.count !== undefined) args.push('--count', String(o.count));
    if (o.stamp) args.push('--stamp');
    const gen = new Generator(bed.spawnIn(ns, bin, args), `generator on ${ns.name}/${o.ifname}`);
    await gen.reader.next('to start', (l) => (l === 'sending' ? true : undefined));
    return gen;
  }

  /** Waits for the generator to finish on its own (--seconds or --count) and returns its totals. */
  finished(timeoutMs: number): Promise<GeneratorResult> {
    return this.reader.next('its totals', (l) => json<GeneratorResult>(l), timeoutMs);
  }

  /** Stops a flood early and returns its totals. */
  stop(): Promise<GeneratorResult> {
    this.child.kill('SIGTERM');
    return this.finished(10_000);
  }
}
