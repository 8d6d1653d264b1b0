/**
 * Drives a program through a pseudo-terminal, as a person at a terminal would: python3's pty
 * module forks it on a new terminal, then each step types its bytes and waits (bounded) until
 * the screen output since the step began matches its pattern. The whole transcript comes
 * back, and the first step that timed out, if any.
 */
import { requireCommand, run } from './netns.js';

export interface PtyStep {
  /** Bytes to type (\r is Enter, \t Tab, \x04 Ctrl-D, \x1b[A the up arrow). */
  readonly send?: string;
  /** A regular expression (Python syntax) the output after this step's bytes must match. */
  readonly expect?: string;
}

export interface PtyResult {
  /** Everything the program wrote to the terminal, without CRs and terminal control sequences. */
  readonly transcript: string;
  /** The output of each step, from its bytes to its match (or to the timeout). */
  readonly steps: string[];
  /** Index of the step whose pattern never came, or null. */
  readonly failedStep: number | null;
  /** The program's exit code, or null if it did not exit after the last step. */
  readonly exitCode: number | null;
}

const DRIVER = String.raw`
import json, os, pty, re, select, sys, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    for k, v in spec['env'].items(): os.environ[k] = v
    os.execvp(spec['argv'][0], spec['argv'])
out = b''
def read_some(deadline):
    global out
    left = deadline - time.monotonic()
    if left <= 0: return False
    r, _, _ = select.select([fd], [], [], left)
    if not r: return False
    try: data = os.read(fd, 65536)
    except OSError: return None
    if not data: return None
    out += data
    return True
def text(b):
    # Cursor moves and erases (CSI sequences) are left out: the pattern sees what is shown.
    return re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', b.decode(errors='replace')).replace('\r', '')
steps = []
failed = None
for i, step in enumerate(spec['steps']):
    start = len(out)
    if step.get('send'): os.write(fd, step['send'].encode())
    pattern = step.get('expect')
    deadline = time.monotonic() + spec['timeout']
    ok = pattern is None
    while not ok:
        got = read_some(deadline)
        ok = re.search(pattern, text(out[start:])) is not None
        if got is not True and not ok: break
    steps.append(text(out[start:]))
    if not ok:
        failed = i
        break
code = None
deadline = time.monotonic() + spec['timeout']
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        code = os.waitstatus_to_exitcode(status)
        break
    if read_some(min(deadline, time.monotonic() + 0.1)) is None:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        break
if code is None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(json.dumps({'transcript': text(out), 'steps': steps, 'failedStep': failed, 'exitCode': code}))
`;

/** Runs `argv` on a pseudo-terminal through `steps`; each step waits at most `timeoutMs`. */
export function ptySession(argv: readonly string[], steps: readonly PtyStep[], env: Record<string, string> = {}, timeoutMs = 10_000): PtyResult {
  requireCommand('python3', 'python3');
  const r = run('python3', ['-c', DRIVER, JSON.stringify({ argv, steps, env, timeout: timeoutMs / 1000 })]);
  if (r.code !== 0) throw new Error(`the pty driver failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as PtyResult;
}
