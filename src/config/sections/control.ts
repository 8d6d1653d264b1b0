/** `control`: the Unix socket turtle6ctl talks to. */
import { z } from 'zod';
import { absolutePath } from '../fields.js';
import { defineSection } from '../registry.js';

export const DEFAULT_CONTROL_SOCKET = '/run/turtle6/turtle6.sock';

export const controlSection = defineSection(
  'control',
  z.strictObject({ socket: absolutePath().default(DEFAULT_CONTROL_SOCKET) }).prefault({}),
  { summary: 'The control socket for turtle6ctl.', reload: { kind: 'restart-module', module: 'control server' } },
);

export type ControlConfig = z.output<typeof controlSection.schema>;
