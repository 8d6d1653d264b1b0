/**
 * `host:port` listen strings, as written in the config (`metrics.listen`) and used by the
 * servers that bind them. IPv6 hosts are bracketed as in RFC 3986 §3.2.2 (`[::1]:9469`),
 * because a bare IPv6 address already contains colons.
 */
import { formatIpv6, parseIpv6 } from '../lib/addr.js';

export interface ListenAddress {
  /** The host exactly as `net.Server.listen` wants it: no brackets. */
  readonly host: string;
  readonly port: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Parses `[ipv6]:port` or `ipv4:port`; port 0 asks the kernel for a free one. Null when invalid. */
export function parseListen(text: string): ListenAddress | null {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return null;
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  const hostText = text.slice(0, colon);
  if (hostText.startsWith('[') && hostText.endsWith(']')) {
    const addr = parseIpv6(hostText.slice(1, -1));
    return addr === null ? null : { host: formatIpv6(addr), port };
  }
  return IPV4.test(hostText) ? { host: hostText, port } : null;
}

export function formatListen(listen: ListenAddress): string {
  return listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
}
