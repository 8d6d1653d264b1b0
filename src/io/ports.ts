/** Port numbers are small integers so that the C helper can index its tables with them. */
export const MAX_PORTS = 256; // T6IO_MAX_PORTS in native-bindings/t6io.c

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port >= MAX_PORTS) {
    throw new RangeError(`port must be an integer in 0..${MAX_PORTS - 1}, got ${port}`);
  }
}
