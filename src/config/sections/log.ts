/** `log`: the JSON log on stdout. */
import { z } from 'zod';
import { numberInRange } from '../fields.js';
import { defineSection } from '../registry.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const logSection = defineSection(
  'log',
  z
    .strictObject({
      level: z.enum(LOG_LEVELS, { error: 'one of trace, debug, info, warn, error' }).default('info'),
      ratePerKind: numberInRange(0.01, 10_000, ' lines per second').default(10),
    })
    .prefault({}),
  { summary: 'Log level and the per-kind rate limit.', reload: { kind: 'in-place' } },
);

export type LogConfig = z.output<typeof logSection.schema>;
