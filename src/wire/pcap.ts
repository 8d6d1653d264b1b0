/**
 * Classic libpcap capture files (the format tcpdump -w writes; see pcap-savefile(5) and
 * draft-ietf-opsawg-pcap): a 24-byte global header, then a 16-byte record header before
 * each packet. Written big-endian with magic 0xa1b2c3d4 and microsecond timestamps; readers
 * detect the byte order from the magic.
 */

export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
/** Link types (tcpdump.org "LINK-LAYER HEADER TYPES"). */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const PCAP_DEFAULT_SNAPLEN = 65535;

export function encodePcapGlobalHeader(buf: Uint8Array, off: number, linkType: number, snapLen = PCAP_DEFAULT_SNAPLEN): number {
  const v = new DataView(buf.buffer, buf.byteOffset + off, PCAP_GLOBAL_HEADER_LEN);
  v.setUint32(0, PCAP_MAGIC_MICROSECONDS);
  v.setUint16(4, 2); // version 2.4
  v.setUint16(6, 4);
  v.setInt32(8, 0); // thiszone: timestamps are UTC
  v.setUint32(12, 0); // sigfigs
  v.setUint32(16, snapLen);
  v.setUint32(20, linkType);
  return PCAP_GLOBAL_HEADER_LEN;
}

/** Record header for a packet seen at `timestampMs` (milliseconds since the Unix epoch). */
export function encodePcapRecordHeader(
  buf: Uint8Array,
  off: number,
  timestampMs: number,
  capturedLength: number,
  originalLength: number,
): number {
  const micros = Math.round(timestampMs * 1000);
  const v = new DataView(buf.buffer, buf.byteOffset + off, PCAP_RECORD_HEADER_LEN);
  v.setUint32(0, Math.floor(micros / 1e6));
  v.setUint32(4, micros % 1e6);
  v.setUint32(8, capturedLength);
  v.setUint32(12, originalLength);
  return PCAP_RECORD_HEADER_LEN;
}

/**
 * Builds a capture as a sequence of chunks handed to `sink` (a file, a socket, an array):
 * the global header at construction, then one chunk per packet. Packets longer than the
 * snap length are truncated, keeping their original length in the record.
 */
export class PcapWriter {
  private readonly snapLen: number;

  constructor(
    private readonly sink: (chunk: Uint8Array) => void,
    readonly linkType: number,
    snapLen = PCAP_DEFAULT_SNAPLEN,
  ) {
    this.snapLen = snapLen;
    const header = new Uint8Array(PCAP_GLOBAL_HEADER_LEN);
    encodePcapGlobalHeader(header, 0, linkType, snapLen);
    sink(header);
  }

  /** Records `length` bytes of `packet` at `offset`, seen at `timestampMs` (Unix epoch ms). */
  write(packet: Uint8Array, offset: number, length: number, timestampMs: number): void {
    const captured = Math.min(length, this.snapLen);
    const chunk = new Uint8Array(PCAP_RECORD_HEADER_LEN + captured);
    encodePcapRecordHeader(chunk, 0, timestampMs, captured, length);
    chunk.set(packet.subarray(offset, offset + captured), PCAP_RECORD_HEADER_LEN);
    this.sink(chunk);
  }
}
