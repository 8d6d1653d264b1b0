/**
 * The protocol modules the appliance runs, one entry each. A new protocol adds its entry
 * here (and its config section under src/config/sections/); nothing else in src/app changes.
 */
import type { Config } from '../config/schema.js';
import type { ProtocolModule } from '../protocols/module.js';
import { EchoResponder, type EchoConfig } from '../protocols/echo/echo.js';
import { RipngModule } from '../protocols/ripng/ripng.js';
import type { RipngConfig } from '../protocols/ripng/config.js';
import { resolveRipngConfig } from '../config/sections/ripng.js';
import { Dhcpv6Module } from '../protocols/dhcpv6/dhcpv6.js';
import type { Dhcpv6Config } from '../config/sections/dhcpv6.js';
import { IpsecModule } from '../protocols/ipsec/ipsec.js';
import type { IpsecConfig } from '../config/sections/ipsec.js';
import { DnsModule, DNS_DEFAULTS, type DnsConfig } from '../protocols/dns/dns.js';
import { MldModule } from '../protocols/mld/mld.js';
import type { MldConfig } from '../protocols/mld/config.js';
import { resolveMldConfig } from '../config/sections/mld.js';
import { MulticastModule } from '../protocols/multicast/multicast.js';
import type { MulticastConfig } from '../config/sections/multicast.js';

export interface ModuleEntry<C> {
  readonly name: string;
  /** The module's config from the whole config, or null when the module is off. */
  config(config: Config): C | null;
  create(): ProtocolModule<C>;
  /** The interfaces the module runs on: it restarts when a reload reopens one of them. */
  interfaces?(config: C): readonly string[];
}

function entry<C>(e: ModuleEntry<C>): ModuleEntry<unknown> {
  return e as unknown as ModuleEntry<unknown>;
}

export const MODULES: readonly ModuleEntry<unknown>[] = [
  // The echo responder has no config section: a router answers pings (RFC 4443 §4.1 MUST).
  entry<EchoConfig>({ name: 'echo', config: () => ({ enabled: true }), create: () => new EchoResponder() }),
  entry<Dhcpv6Config>({
    name: 'dhcpv6',
    config: (c) => (c.dhcpv6?.enabled ? c.dhcpv6 : null),
    create: () => new Dhcpv6Module(),
    interfaces: (c) => [
      ...(c.server?.interfaces.map((i) => i.name) ?? []),
      ...(c.relay ? [...c.relay.interfaces, c.relay.upstream] : []),
      ...(c.client ? [c.client.interface, ...c.client.prefixInterfaces.map((p) => p.name)] : []),
    ],
  }),
  entry<RipngConfig>({
    name: 'ripng',
    config: (c) => resolveRipngConfig(c.ripng, c.interfaces.map((i) => i.name)),
    create: () => new RipngModule(),
    interfaces: (c) => c.interfaces.map((i) => i.name),
  }),
  entry<MldConfig>({
    name: 'mld',
    config: (c) => resolveMldConfig(c.mld, c.interfaces),
    create: () => new MldModule(),
    interfaces: (c) => c.interfaces.map((i) => i.name),
  }),
  entry<IpsecConfig>({ name: 'ipsec', config: (c) => c.ipsec ?? null, create: () => new IpsecModule() }),
  entry<MulticastConfig>({
    name: 'multicast',
    config: (c) => c.multicast ?? null,
    create: () => new MulticastModule(),
    // Its entries hold port numbers: a reopened interface may have another.
    interfaces: (c) => [...new Set(c.routes.flatMap((r) => [...(r.in === null ? [] : [r.in]), ...r.out]))],
  }),
  // The stub resolver always runs, so that `turtle6ctl resolve` can say what is missing.
  entry<DnsConfig>({ name: 'dns', config: (c) => c.dns ?? DNS_DEFAULTS, create: () => new DnsModule() }),
];
