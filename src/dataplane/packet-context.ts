/**
 * What a lane knows about the packet it is processing, besides its bytes: one struct of typed
 * fields that the stages pass along (lane.ts) and fill in, the way a VPP buffer carries its
 * opaque metadata from node to node. A lane creates two and reuses them for every packet: one
 * for the packet it received (or took over from a ring), and one for a packet the router
 * originates while that one is still being processed (an ICMPv6 error about it, an
 * injection). Nothing here is allocated per packet, and nothing a stage returns hides in a
 * field of another stage: it is in this struct, or it is the return value.
 */
export class PacketContext {
  /** The ingress port: whose counters the packet's verdict moves. */
  port = 0;
  /**
   * Received (true: its verdict is forwarded, punted or one drop reason, so that per port
   * rx_packets = forwarded + punted + Σ drops), or originated by the router (false: a failure
   * counts as originated_dropped and nothing else).
   */
  received = true;
  /** It came as a link-layer multicast or broadcast: no ICMPv6 errors about it (RFC 4443 §2.4(e.4, e.5)). */
  linkMulticast = false;
  /** It came out of an ESP tunnel, whose policy was checked there (not decrypted again). */
  decapsulated = false;
  /** Its record in the trace ring (trace-recorder.ts), or -1 when it is not traced. */
  trace = -1;

  /**
   * Where the packet is now when a stage moved or built it (ESP encapsulation and
   * decapsulation, an ICMPv6 error, a hand-over): its IPv6 header's offset and its length.
   */
  ip = 0;
  len = 0;

  // The ESP stage (esp.ts) fills in the rest.
  /**
   * EspStage.locateUpperLayer(): the upper-layer header's offset (-1 for a non-initial
   * fragment), the offset from the IPv6 header of the Next Header field that names it, and
   * whether a Fragment header came first.
   */
  upperOff = 0;
  upperNextHeaderPointer = 0;
  fragmented = false;
  /** EspStage.inboundCheck(): the SA met (also when it belongs to another lane), the full sequence number. */
  sa = -1;
  seq = 0;
  /** The Seq-hi the ICV covers (0 without ESN): inboundCheck() for the open, encapsulate() for the seal. */
  seqHi = 0;
  /** EspStage.encapsulate() with the seal deferred: the ESP header's offset and the plaintext length to seal. */
  espOff = 0;
  ptLen = 0;

  /** Starts the context of a frame received on `port`. */
  receivedOn(port: number, linkMulticast: boolean, trace: number): void {
    this.port = port;
    this.received = true;
    this.linkMulticast = linkMulticast;
    this.decapsulated = false;
    this.trace = trace;
  }

  /** Starts the context of a packet the router originates on behalf of `port` (an error about a packet from it, an injection). */
  originatedOn(port: number): void {
    this.port = port;
    this.received = false;
    this.linkMulticast = false;
    this.decapsulated = false;
    this.trace = -1;
  }
}
