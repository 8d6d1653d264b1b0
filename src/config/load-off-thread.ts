/**
 * Loading the config file in a short-lived worker thread, for the long-running appliance
 * (start, reload, `config diff`).
 *
 * Why not on the control plane's thread: the YAML Document that gives every error its
 * file:line:column keeps a node with its position for every scalar, about 1.3 KiB per
 * static route. A 100,000-route table peaks near 300 MiB of heap, and V8 keeps that heap
 * committed for the life of the process, although the Document is garbage a moment later.
 * A worker's isolate goes away with the worker, so only the validated Config (plain data,
 * structured-cloned, its Secrets packed for the clone by secrets.ts) reaches the control
 * plane. And while a big file parses for seconds, the control plane's timers (ND, RIPng,
 * DHCPv6 retransmissions) keep running, which matters on a reload.
 *
 * `turtle6 check` and the tests use loadConfigFile() directly: they exit soon after.
 */
import { Worker } from 'node:worker_threads';
import type { LoadResult } from './load.js';
import { unpackSecrets } from './secrets.js';

const WORKER_URL = new URL('./load-worker.js', import.meta.url);

export function loadConfigFileOffThread(path: string): Promise<LoadResult> {
  return new Promise<LoadResult>((resolve, reject) => {
    let settled = false;
    const worker = new Worker(WORKER_URL, { workerData: { path } });
    worker.once('message', (result: LoadResult) => {
      settled = true;
      resolve(unpackSecrets(result));
      void worker.terminate();
    });
    worker.once('error', (e) => {
      settled = true;
      reject(new Error(`loading ${path}: the loader thread failed: ${e.message}`));
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`loading ${path}: the loader thread exited with code ${code} before answering`));
    });
  });
}
