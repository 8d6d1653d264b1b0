/**
 * Compiles the benchmark's C programs (bench/ref/) into native-bindings/build/bench/, which
 * git ignores. They are rebuilt on every run: it takes well under a second each, and a stale
 * binary measured against fresh TypeScript would be a silent lie.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchBinaries {
  /** Traffic generator and sink (bench/ref/gen.c). */
  readonly gen: string;
  /** Reference (a): one read and one write per packet. */
  readonly tapfwd: string;
  /** Reference (b): io_uring batches. */
  readonly tapfwdUring: string;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function compile(source: string, output: string, libs: string[]): void {
  // Built beside the binary and renamed over it: a benchmark or test running at the same time
  // keeps executing the old file, and never finds a half-written one.
  const partial = `${output}.${process.pid}`;
  const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-o', partial, join(ROOT, 'bench', 'ref', source), ...libs];
  const r = spawnSync('gcc', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`bench: gcc is needed to build ${source} (Debian package 'gcc'): ${r.error.message}`);
  if (r.status !== 0) {
    const hint = libs.includes('-luring') && /liburing/.test(r.stderr) ? " (install the Debian package 'liburing-dev')" : '';
    throw new Error(`bench: gcc ${args.join(' ')} failed${hint}:\n${r.stderr}`);
  }
  renameSync(partial, output);
}

export function buildBenchBinaries(): BenchBinaries {
  const dir = join(ROOT, 'native-bindings', 'build', 'bench');
  mkdirSync(dir, { recursive: true });
  const out = { gen: join(dir, 'gen'), tapfwd: join(dir, 'tapfwd'), tapfwdUring: join(dir, 'tapfwd-uring') };
  compile('gen.c', out.gen, []);
  compile('tapfwd.c', out.tapfwd, []);
  compile('tapfwd-uring.c', out.tapfwdUring, ['-luring']);
  return out;
}
