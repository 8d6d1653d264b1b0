/** The whole config file's schema and the fully populated Config type it produces. */
import type { z } from 'zod';
import { buildConfigSchema } from './registry.js';
import { SECTIONS } from './sections/index.js';

export const configSchema = buildConfigSchema(SECTIONS);

/** A validated config with every default applied. */
export type Config = z.output<typeof configSchema>;

export type { InterfaceConfig, RaConfig } from './sections/interfaces.js';
export type { RouteConfig } from './sections/routes.js';
export type { DataplaneConfig } from './sections/dataplane.js';
export type { MetricsConfig } from './sections/metrics.js';
export type { LogConfig, LogLevel } from './sections/log.js';
export type { ControlConfig } from './sections/control.js';
