/** `stateDir`: where state that survives restarts (leases, bindings, DUIDs) is written. */
import { absolutePath } from '../fields.js';
import { defineSection } from '../registry.js';

export const DEFAULT_STATE_DIR = '/var/lib/turtle6';

export const stateDirSection = defineSection('stateDir', absolutePath().default(DEFAULT_STATE_DIR), {
  summary: 'Directory for durable state (leases, bindings, DUIDs).',
  // Modules hold open files there; moving it under them would split their state in two.
  reload: { kind: 'restart-appliance' },
});
