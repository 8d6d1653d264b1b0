#!/usr/bin/env node
/** turtle6ctl: talk to a running turtle6 over its control socket (turtle6ctl-program.ts). */
import { turtle6ctlProgram } from './turtle6ctl-program.js';

await turtle6ctlProgram().parseAsync(process.argv);
