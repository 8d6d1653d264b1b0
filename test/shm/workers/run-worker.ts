/** Starts a test worker and resolves with its one result message; rejects if it throws or exits early. */
import { Worker } from 'node:worker_threads';

export function runWorker<T>(script: URL, workerData: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData });
    let settled = false;
    worker.once('message', (result: T) => {
      settled = true;
      resolve(result);
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`worker ${script.pathname} exited with code ${code} before reporting`));
    });
  });
}
