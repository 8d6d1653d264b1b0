/**
 * Replacing a small state file so that a crash (kill -9, power loss) leaves either the old
 * or the new contents, never a torn file, and the new contents are on disk when this returns:
 * a temporary file is written and fsynced, renamed over the old one (atomic on POSIX), and
 * the directory fsynced so that the rename itself is durable (DESIGN.md, "State that must
 * survive restarts").
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileDurably(path: string, data: string, mode = 0o666): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
