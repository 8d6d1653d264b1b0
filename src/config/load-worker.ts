/** The worker side of load-off-thread.ts: load one file, post the result, exit. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfigFile } from './load.js';

const { path } = workerData as { path: string };
parentPort!.postMessage(loadConfigFile(path));
