/**
 * Runs turtle6ctl as nobody (uid and gid 65534, no supplementary groups), for the tests that
 * prove the control socket refuses other users: `node ctl-as-nobody.js TURTLE6CTL-ARGS…`,
 * started as root. The whole client is loaded while still root and privileges are dropped
 * only then, so the outcome depends on the socket's mode alone, not on whether nobody may
 * read the checkout (a clone under /root or in a 0700 directory is closed to it).
 */
import { turtle6ctlProgram } from '../../src/app/turtle6ctl-program.js';

const NOBODY = 65534;

const program = turtle6ctlProgram();
// Groups first: after setuid the process may no longer change them. (These calls exist on
// POSIX only, hence the assertions.)
process.setgroups!([]);
process.setgid!(NOBODY);
process.setuid!(NOBODY);
await program.parseAsync(process.argv);
