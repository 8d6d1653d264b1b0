/**
 * What the benchmark reads from /proc: the CPU a forwarding process has used, the CPU the
 * kernel spent in softirq context (where kernel forwarding runs), and resident memory.
 *
 * /proc/PID/stat reports utime and stime for the whole thread group, so turtle6's worker
 * lanes are included. Both files count in USER_HZ ticks (`getconf CLK_TCK`). The kernel
 * here samples CPU time at each scheduler tick (CONFIG_TICK_CPU_ACCOUNTING), so a window of
 * a few seconds at 250 Hz is good to about 1 %.
 */
import { readFileSync } from 'node:fs';
import { runOk } from '../../test/helpers/netns.js';

const TICKS_PER_SECOND = Number(runOk('getconf', ['CLK_TCK']).trim());

/** utime + stime of the process and all its threads, in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // proc(5): utime and stime are fields 14 and 15, i.e. 11 and 12 after "(comm) state".
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * Seconds every CPU together spent serving softirqs (/proc/stat, the `softirq` column).
 * Kernel forwarding between veths runs there: NET_RX, whether raised in the sender's
 * context or deferred to ksoftirqd. Without CONFIG_IRQ_TIME_ACCOUNTING a softirq tick is
 * also charged to the interrupted task, but the column itself counts each tick once.
 */
export function softirqCpuSeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
  return Number(line.trim().split(/\s+/)[7]) / TICKS_PER_SECOND;
}

/** Resident set size of the process (shared by its threads), in KiB. */
export function vmRssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}
