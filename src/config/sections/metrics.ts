/** `metrics`: the Prometheus endpoint. */
import { z } from 'zod';
import { listenAddress } from '../fields.js';
import { defineSection } from '../registry.js';

export const DEFAULT_METRICS_LISTEN = '[::1]:9469';

export const metricsSection = defineSection(
  'metrics',
  z.strictObject({ listen: listenAddress().default(DEFAULT_METRICS_LISTEN) }).prefault({}),
  { summary: 'Where GET /metrics is served ("" disables it).', reload: { kind: 'restart-module', module: 'metrics server' } },
);

export type MetricsConfig = z.output<typeof metricsSection.schema>;
