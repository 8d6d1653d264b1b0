/**
 * ICMPv6 Echo responder (RFC 4443 §4): the smallest module on the StackApi, and the proof of
 * its shape. It answers Echo Requests addressed to the router, unicast or multicast.
 */
import { isMulticast } from '../../lib/addr.js';
import { ICMP6 } from '../../wire/icmpv6.js';
import type { StackApi, Unsubscribe } from '../../stack/stack-api.js';
import type { ModuleContext, ModuleStatus, ProtocolModule } from '../module.js';

export interface EchoConfig {
  readonly enabled: boolean;
}

export class EchoResponder implements ProtocolModule<EchoConfig> {
  readonly name = 'echo';
  private api: StackApi | null = null;
  private unsubscribe: Unsubscribe | null = null;
  private enabled = true;
  private requests = 0;
  private replies = 0;

  start(ctx: ModuleContext, config: EchoConfig): void {
    this.api = ctx.api;
    this.enabled = config.enabled;
    ctx.metrics.counter({ name: 'echo_requests_total', help: 'ICMPv6 Echo Requests addressed to the router' }, (emit) => emit({}, this.requests));
    ctx.metrics.counter({ name: 'echo_replies_total', help: 'ICMPv6 Echo Replies the router sent' }, (emit) => emit({}, this.replies));
    this.unsubscribe = ctx.api.onIcmpv6(ICMP6.ECHO_REQUEST, (m) => {
      this.requests++;
      if (!this.enabled) return;
      // §4.2: the reply's source is the request's destination, unless that was multicast,
      // in which case it is a unicast address of the interface the request arrived on (the
      // stack makes the same substitution for a Subnet-Router anycast destination).
      // Identifier, sequence number and data are returned unchanged.
      const src = isMulticast(m.dst) ? undefined : m.dst;
      this.api!.sendIcmpv6({
        port: m.port,
        ...(src ? { src } : {}),
        dst: m.src,
        type: ICMP6.ECHO_REPLY,
        code: 0,
        body: m.body,
      });
      this.replies++;
    });
  }

  prepareReconfigure(next: EchoConfig): () => void {
    return () => {
      this.enabled = next.enabled;
    };
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  status(): ModuleStatus {
    const data = { enabled: this.enabled, requests: this.requests, replies: this.replies };
    return { data, text: `echo: ${this.enabled ? 'enabled' : 'disabled'}, ${this.requests} requests, ${this.replies} replies` };
  }
}
