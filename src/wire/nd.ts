/**
 * Neighbor Discovery messages (RFC 4861 §4) and their options (§4.6, RFC 8106).
 * The Repr types below are the contract between the codec and the stack.
 */

export type NdOption =
  | { readonly type: 'sourceLinkLayerAddress'; readonly mac: Uint8Array }
  | { readonly type: 'targetLinkLayerAddress'; readonly mac: Uint8Array }
  | {
      readonly type: 'prefixInformation';
      readonly prefixLength: number;
      readonly onLink: boolean;
      readonly autonomous: boolean;
      readonly validLifetime: number;
      readonly preferredLifetime: number;
      readonly prefix: Uint8Array;
    }
  | { readonly type: 'mtu'; readonly mtu: number }
  | { readonly type: 'rdnss'; readonly lifetime: number; readonly servers: readonly Uint8Array[] }
  | { readonly type: 'dnssl'; readonly lifetime: number; readonly domains: readonly string[] }
  | { readonly type: 'redirectedHeader'; readonly data: Uint8Array }
  | { readonly type: 'unknown'; readonly code: number; readonly data: Uint8Array };

export type NdMessage =
  | { readonly type: 'routerSolicitation'; readonly options: readonly NdOption[] }
  | {
      readonly type: 'routerAdvertisement';
      readonly curHopLimit: number;
      readonly managed: boolean;
      readonly other: boolean;
      readonly routerLifetime: number;
      readonly reachableTime: number;
      readonly retransTimer: number;
      readonly options: readonly NdOption[];
    }
  | { readonly type: 'neighborSolicitation'; readonly target: Uint8Array; readonly options: readonly NdOption[] }
  | {
      readonly type: 'neighborAdvertisement';
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly target: Uint8Array;
      readonly options: readonly NdOption[];
    }
  | {
      readonly type: 'redirect';
      readonly target: Uint8Array;
      readonly destination: Uint8Array;
      readonly options: readonly NdOption[];
    };
