/** The worker side of load-off-thread.ts: load one file, post the result, exit. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfigFile } from './load.js';
import { packSecrets } from './secrets.js';

const { path } = workerData as { path: string };
parentPort!.postMessage(packSecrets(loadConfigFile(path)));
