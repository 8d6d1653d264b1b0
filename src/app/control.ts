/**
 * The control socket: a Unix stream socket speaking newline-delimited JSON, in the spirit
 * of birdc/vtysh. One request per line:
 *
 *   → {"id":1,"command":["show","routes"],"json":false}
 *   ← {"id":1,"ok":true,"data":[…],"text":"PREFIX  VIA …"}
 *   ← {"id":2,"ok":false,"error":"unknown command \"show rutes\"; …"}
 *
 * Access control is the file system's: the socket is mode 0600 (owner only), and its
 * directory is created 0700, so no other user can connect in the moment between bind and chmod.
 */
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, resolve as resolvePath } from 'node:path';
import { formatTable } from './format.js';
import { diffConfig, renderConfigDiff } from '../config/diff.js';
import { formatConfigError } from '../config/load.js';
import { loadConfigFileOffThread } from '../config/load-off-thread.js';
import type { Config } from '../config/schema.js';
import { wipeSecrets } from '../config/secrets.js';

export interface ControlRequest {
  readonly id: number | string;
  readonly command: string[];
  readonly json: boolean;
  readonly args?: Record<string, unknown>;
}

export type ControlResponse =
  | { readonly id: number | string; readonly ok: true; readonly data: unknown; readonly text: string }
  | { readonly id: number | string; readonly ok: false; readonly error: string };

export interface ControlReply {
  readonly data: unknown;
  readonly text: string;
}

/** `rest` holds the words after the matched command path (`trace 10` → ["10"]). */
export type ControlHandler = (request: ControlRequest, rest: string[]) => Promise<ControlReply> | ControlReply;

/** A request line longer than this is refused: no legitimate command comes near it. */
const MAX_REQUEST_BYTES = 1 << 20;

export class ControlServer {
  private readonly handlers = new Map<string, { path: string[]; handler: ControlHandler; help: string }>();
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(readonly socketPath: string) {
    this.register(['help'], () => {
      const commands = [...this.handlers.values()].sort((a, b) => a.path.join(' ').localeCompare(b.path.join(' ')));
      return {
        data: commands.map((c) => ({ command: c.path.join(' '), help: c.help })),
        text: formatTable(['COMMAND', 'DESCRIPTION'], commands.map((c) => [c.path.join(' '), c.help])),
      };
    }, 'list the commands');
  }

  /** Registers `path` (e.g. ['show','routes']); the longest registered prefix of a request's words wins. */
  register(path: string[], handler: ControlHandler, help = ''): void {
    if (path.length === 0) throw new Error('control: a command needs at least one word');
    this.handlers.set(path.join(' '), { path, handler, help });
  }

  async listen(): Promise<void> {
    await prepareSocketPath(this.socketPath);
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(this.socketPath, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.socketPath).catch(() => undefined);
  }

  /** Runs one request; exposed so the appliance can serve the same commands from SIGHUP or tests. */
  async dispatch(request: ControlRequest): Promise<ControlResponse> {
    const words = request.command;
    for (let n = words.length; n > 0; n--) {
      const entry = this.handlers.get(words.slice(0, n).join(' '));
      if (entry === undefined) continue;
      try {
        const reply = await entry.handler(request, words.slice(n));
        return { id: request.id, ok: true, data: reply.data, text: reply.text };
      } catch (e) {
        return { id: request.id, ok: false, error: e instanceof Error ? e.message : String(e) };
      }
    }
    return { id: request.id, ok: false, error: this.unknown(words) };
  }

  private unknown(words: string[]): string {
    const all = [...this.handlers.keys()].sort();
    // Offer the commands that share the first word, if any ("show rutes" → the show commands).
    const related = all.filter((c) => c.split(' ')[0] === words[0]);
    const offer = related.length > 0 ? related : all;
    return `unknown command "${words.join(' ')}"; available: ${offer.join(', ')}`;
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST_BYTES) {
        socket.end(`${JSON.stringify({ id: null, ok: false, error: 'request too long' })}\n`);
        return;
      }
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() !== '') void this.answer(socket, line);
      }
    });
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    const request = parseRequest(line);
    const response: ControlResponse = 'error' in request ? request.error : await this.dispatch(request);
    if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
  }
}

function parseRequest(line: string): ControlRequest | { error: ControlResponse } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: { id: 0, ok: false, error: 'request is not JSON' } };
  }
  const r = value as Partial<ControlRequest> | null;
  const id = r !== null && (typeof r.id === 'number' || typeof r.id === 'string') ? r.id : 0;
  if (r === null || typeof r !== 'object' || !Array.isArray(r.command) || !r.command.every((w) => typeof w === 'string')) {
    return { error: { id, ok: false, error: 'request needs "command": an array of words' } };
  }
  const args = r.args !== null && typeof r.args === 'object' && !Array.isArray(r.args) ? r.args : undefined;
  return { id, command: r.command, json: r.json === true, ...(args === undefined ? {} : { args }) };
}

/** Creates the socket's directory (0700 when new) and removes a stale socket; refuses to replace a live one. */
async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existing = await lstat(path).catch(() => null);
  if (existing === null) return;
  if (!existing.isSocket()) throw new Error(`control: ${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`control: another process is serving ${path} (is turtle6 already running?)`);
  await unlink(path);
}

/** The appliance is not running (no socket, or nobody listening on it): turtle6ctl exits 2. */
export class ControlUnavailable extends Error {
  readonly code = 'ERR_CONTROL_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'ControlUnavailable';
  }
}

/** How long a client waits for an answer, unless the command itself waits longer. */
export const DEFAULT_ANSWER_TIMEOUT_MS = 30_000;
/** What the appliance may need beyond a command's own wait to answer (a trace writes its pcap). */
const ANSWER_MARGIN_MS = 10_000;

/**
 * The client's timeout for a command that waits up to `waitMs` before it answers (trace
 * --timeout): that wait plus a margin, never less than the usual timeout, so the client is
 * still listening when the answer comes.
 */
export function answerTimeoutMs(waitMs: number, usualMs = DEFAULT_ANSWER_TIMEOUT_MS): number {
  return Math.max(usualMs, waitMs + ANSWER_MARGIN_MS);
}

export class ControlClient {
  private nextId = 1;

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = DEFAULT_ANSWER_TIMEOUT_MS,
  ) {}

  /** Sends one request on a fresh connection and resolves with the matching response. */
  request(command: string[], args?: Record<string, unknown>, json = false): Promise<ControlResponse> {
    const id = this.nextId++;
    const line = `${JSON.stringify({ id, command, json, ...(args === undefined ? {} : { args }) })}\n`;
    return new Promise<ControlResponse>((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      let buffered = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer from ${this.socketPath} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        socket.destroy();
        settle();
      };
      socket.setEncoding('utf8');
      socket.once('connect', () => socket.write(line));
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        const nl = buffered.indexOf('\n');
        if (nl < 0) return;
        try {
          const response = JSON.parse(buffered.slice(0, nl)) as ControlResponse;
          finish(() => resolve(response));
        } catch (e) {
          finish(() => reject(new Error(`malformed answer from ${this.socketPath}: ${String(e)}`)));
        }
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        finish(() => reject(connectionError(this.socketPath, e)));
      });
      socket.once('end', () => finish(() => reject(new Error(`${this.socketPath} closed the connection without answering`))));
    });
  }
}

function connectionError(path: string, e: NodeJS.ErrnoException): Error {
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
    return new ControlUnavailable(`turtle6 is not running: no one is listening on ${path} (${e.code})`);
  }
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return Object.assign(new Error(`permission denied on ${path}: turtle6ctl must run as the appliance's user (usually root)`), {
      code: e.code,
    });
  }
  return e;
}

/**
 * `show config` and `config diff FILE`, which need only the running config; `reload` needs
 * the appliance's reload participants and is registered by the appliance. Keys print as
 * <redacted> in both (they are Secrets, lib/secret.ts).
 */
export function registerConfigCommands(server: ControlServer, running: () => Config): void {
  server.register(['show', 'config'], () => ({ data: running(), text: JSON.stringify(running(), null, 2) }), 'the running config, with defaults');
  server.register(['config', 'diff'], async (_request, rest) => {
    if (rest.length !== 1) throw new Error('usage: config diff FILE');
    const file = resolvePath(rest[0]!);
    const loaded = await loadConfigFileOffThread(file);
    if (!loaded.ok) throw new Error(loaded.errors.map(formatConfigError).join('\n'));
    const changes = diffConfig(running(), loaded.config);
    const text = renderConfigDiff(changes);
    // Only compared, never run: its keys are zeroed now (the changes show them redacted).
    wipeSecrets(loaded.config);
    return { data: changes, text };
  }, 'what a reload from FILE would change');
}
