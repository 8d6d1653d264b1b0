/**
 * Every config section, in the order docs/CONFIG.md presents them. A new protocol module
 * adds its section here; nothing else in src/config changes.
 */
import { controlSection } from './control.js';
import { dataplaneSection } from './dataplane.js';
import { dhcpv6Section } from './dhcpv6.js';
import { dnsSection } from './dns.js';
import { interfacesSection } from './interfaces.js';
import { ipsecSection } from './ipsec.js';
import { logSection } from './log.js';
import { metricsSection } from './metrics.js';
import { mldSection } from './mld.js';
import { multicastSection } from './multicast.js';
import { ndSection } from './nd.js';
import { ripngSection } from './ripng.js';
import { routesSection } from './routes.js';
import { stateDirSection } from './state-dir.js';

export const SECTIONS = [
  interfacesSection,
  routesSection,
  dataplaneSection,
  ndSection,
  ripngSection,
  dhcpv6Section,
  mldSection,
  dnsSection,
  ipsecSection,
  multicastSection,
  metricsSection,
  logSection,
  controlSection,
  stateDirSection,
] as const;
