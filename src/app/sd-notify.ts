/**
 * systemd's service notification (sd_notify(3)): when turtle6 runs under a `Type=notify`
 * unit (examples/turtle6.service), systemd passes the path of a Unix datagram socket in
 * $NOTIFY_SOCKET, and turtle6 says READY=1 once its ports, lanes and control socket are up,
 * RELOADING=1 … READY=1 around a reload and STOPPING=1 when it stops. Node has no Unix
 * datagram sockets, so the datagram goes out through libc's socket(2)/sendto(2) over koffi
 * (native-bindings/libc.ts): no compiled helper, no new dependency. Without $NOTIFY_SOCKET
 * (not under systemd) every call does nothing.
 */
import { AF_UNIX, check, close, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM, SOCKADDR_UN_SIZE, sendto, socket } from '../../native-bindings/libc.js';

/**
 * Sends `state` (newline-separated VAR=value assignments) to $NOTIFY_SOCKET. Returns false
 * when there is no socket to tell; throws when telling it failed. An address starting with
 * `@` is in the abstract namespace (sd_notify(3)).
 */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const where = env['NOTIFY_SOCKET'];
  if (where === undefined || where === '') return false;
  if (!where.startsWith('/') && !where.startsWith('@')) throw new Error(`NOTIFY_SOCKET=${where}: only Unix socket paths are supported`);
  const name = Buffer.from(where.startsWith('@') ? `\0${where.slice(1)}` : where);
  const addr = new Uint8Array(SOCKADDR_UN_SIZE);
  // A path needs its NUL inside sun_path; an abstract name is exactly its bytes.
  if (name.length > SOCKADDR_UN_SIZE - 2 - (where.startsWith('/') ? 1 : 0)) throw new Error(`NOTIFY_SOCKET=${where}: too long for a Unix socket address`);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  const addrLen = 2 + name.length + (where.startsWith('/') ? 1 : 0);
  const message = Buffer.from(state);
  const fd = check('socket(AF_UNIX, SOCK_DGRAM)', socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  try {
    check(`sendto(${where})`, sendto(fd, message, message.length, MSG_NOSIGNAL, addr, addrLen));
  } finally {
    close(fd);
  }
  return true;
}

/** CLOCK_MONOTONIC in microseconds, which RELOADING=1 carries (sd_notify(3), MONOTONIC_USEC). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}
