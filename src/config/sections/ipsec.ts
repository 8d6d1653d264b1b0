/**
 * `ipsec`: manually keyed SAs and the security policy database, carrying what `setkey`'s
 * `add` / `spdadd` (or `ip xfrm state add` / `ip xfrm policy add`) carry. docs/ipsec.md
 * maps the two syntaxes onto these keys.
 */
import { z } from 'zod';
import { ENCRYPTIONS, INTEGRITIES, type EncryptionName, type IntegrityName } from '../../ipsec/algorithms.js';
import { MAX_REPLAY_WINDOW, MAX_SA_SLOTS } from '../../shm/ipsec-tables.js';
import { Secret, readKeyFile } from '../../lib/secret.js';
import { absolutePath, flag, intInRange, ipv6NetworkPrefix, ipv6UnicastAddress, listOf, secret } from '../fields.js';
import { defineSection } from '../registry.js';

const UINT32_MAX = 0xffff_ffff;

const HEX_KEY = /^(0x)?([0-9a-fA-F]{2})*$/;

/** Key text as setkey writes it ("0x0011…" or "0011…"; white space around it ignored), or null. */
function parseHexKey(text: string): Uint8Array | null {
  const t = text.trim();
  if (!HEX_KEY.test(t)) return null;
  const decoded = Buffer.from(t.replace(/^0x/, ''), 'hex');
  // A copy of its own, and the decoding buffer (a slice of Node's shared pool) zeroed.
  const key = Uint8Array.from(decoded);
  decoded.fill(0);
  return key;
}

/** An inline key: a secret field, so show, diff and logs never print it (docs/ipsec.md, "Secrets"). */
function hexKey() {
  const expected = 'a key in hex like 0x00112233… (or "" for none)';
  return secret(
    z.string({ error: expected }).transform((s, ctx) => {
      const key = parseHexKey(s);
      if (key !== null) return new Secret(key);
      ctx.addIssue({ code: 'custom', message: expected });
      return z.NEVER;
    }),
  );
}

type KeyFields = { [F in 'encKey' | 'authKey']?: Secret | undefined } & { [F in 'encKeyFile' | 'authKeyFile']?: string | undefined };

/**
 * The key of `field` (encKey or authKey): inline, or read from `<field>File` — at load and
 * at every reload, so a reload applies a key file's new content. Null when neither works
 * (an issue says why, naming the file); an empty key when neither is given.
 */
function resolveKey(sa: KeyFields, field: 'encKey' | 'authKey', ctx: z.RefinementCtx): Secret | null {
  const inline = sa[field];
  const file = sa[`${field}File`];
  if (inline !== undefined && file !== undefined) {
    ctx.addIssue({ code: 'custom', path: [`${field}File`], message: `${field} or ${field}File, not both` });
    return null;
  }
  if (file === undefined) return inline ?? new Secret(new Uint8Array(0));
  try {
    return new Secret(readKeyFile(file, parseHexKey, 'one key in hex like 0x00112233…'));
  } catch (e) {
    ctx.addIssue({ code: 'custom', path: [`${field}File`], message: `a readable file holding one key in hex (${(e as Error).message})` });
    return null;
  }
}

const encryptionNames = Object.keys(ENCRYPTIONS) as [EncryptionName, ...EncryptionName[]];
const integrityNames = Object.keys(INTEGRITIES) as [IntegrityName, ...IntegrityName[]];

const lifetimeSchema = z
  .strictObject({
    softBytes: intInRange(0, Number.MAX_SAFE_INTEGER, ' bytes (0: none)').default(0),
    hardBytes: intInRange(0, Number.MAX_SAFE_INTEGER, ' bytes (0: none)').default(0),
    softSeconds: intInRange(0, UINT32_MAX, ' seconds (0: none)').default(0),
    hardSeconds: intInRange(0, UINT32_MAX, ' seconds (0: none)').default(0),
  })
  .prefault({});

const saSchema = z
  .strictObject({
    spi: intInRange(256, UINT32_MAX, ' (RFC 4303 §2.1 reserves 0-255)'),
    direction: z.enum(['in', 'out'], { error: 'in or out' }),
    mode: z.enum(['transport', 'tunnel'], { error: 'transport or tunnel' }).default('transport'),
    src: ipv6UnicastAddress(),
    dst: ipv6UnicastAddress(),
    encryption: z.enum(encryptionNames, { error: `one of ${encryptionNames.join(', ')}` }),
    encKey: hexKey().optional(),
    /** The key in a file of its own (mode 0600), read at load and at every reload. */
    encKeyFile: absolutePath().optional(),
    integrity: z.enum(integrityNames, { error: `one of ${integrityNames.join(', ')}` }).default('none'),
    authKey: hexKey().optional(),
    authKeyFile: absolutePath().optional(),
    esn: flag().default(false),
    replayWindow: intInRange(0, MAX_REPLAY_WINDOW, ' packets (a multiple of 32; 0 disables anti-replay)')
      .refine((n) => n % 32 === 0, { error: `a multiple of 32 from 0 to ${MAX_REPLAY_WINDOW}` })
      .default(64),
    initialSeq: intInRange(0, Number.MAX_SAFE_INTEGER).default(0),
    lifetime: lifetimeSchema,
  })
  .transform((given, ctx) => {
    const encKey = resolveKey(given, 'encKey', ctx);
    const authKey = resolveKey(given, 'authKey', ctx);
    const sa = { ...given, encKey: encKey ?? new Secret(new Uint8Array(0)), authKey: authKey ?? new Secret(new Uint8Array(0)) };
    const enc = ENCRYPTIONS[sa.encryption];
    if (encKey !== null && encKey.length !== enc.keyBytes) {
      const what = enc.aead ? `${enc.keyBytes} bytes: the AES key and the 4-byte salt (RFC 4106 §8.1)` : `${enc.keyBytes} bytes`;
      ctx.addIssue({ code: 'custom', path: [given.encKeyFile === undefined ? 'encKey' : 'encKeyFile'], message: `a key of ${what} for ${sa.encryption}` });
    }
    if (enc.aead && sa.integrity !== 'none') {
      ctx.addIssue({ code: 'custom', path: ['integrity'], message: `none with ${sa.encryption}, which authenticates by itself (RFC 4106 §2)` });
    }
    if (sa.encryption === 'null' && sa.integrity === 'none') {
      ctx.addIssue({ code: 'custom', path: ['integrity'], message: 'an integrity algorithm with null encryption (RFC 4303 §3.2)' });
    }
    if (!enc.aead && sa.integrity === 'none' && sa.encryption !== 'null') {
      ctx.addIssue({ code: 'custom', path: ['integrity'], message: 'hmac-sha256-128 with AES-CBC: confidentiality without integrity invites attacks (RFC 4303 §3.2)' });
    }
    if (authKey !== null && authKey.length !== INTEGRITIES[sa.integrity].keyBytes) {
      ctx.addIssue({ code: 'custom', path: [given.authKeyFile === undefined ? 'authKey' : 'authKeyFile'], message: `a key of ${INTEGRITIES[sa.integrity].keyBytes} bytes for ${sa.integrity}` });
    }
    if (!sa.esn && sa.initialSeq > UINT32_MAX) {
      ctx.addIssue({ code: 'custom', path: ['initialSeq'], message: `at most ${UINT32_MAX} without esn: true (RFC 4303 §2.2)` });
    }
    const l = sa.lifetime;
    if (l.softBytes > 0 && l.hardBytes > 0 && l.softBytes >= l.hardBytes) {
      ctx.addIssue({ code: 'custom', path: ['lifetime', 'softBytes'], message: `fewer than hardBytes (${l.hardBytes})` });
    }
    if (l.softSeconds > 0 && l.hardSeconds > 0 && l.softSeconds >= l.hardSeconds) {
      ctx.addIssue({ code: 'custom', path: ['lifetime', 'softSeconds'], message: `fewer than hardSeconds (${l.hardSeconds})` });
    }
    return sa;
  });

const PROTOCOLS = { any: -1, tcp: 6, udp: 17, icmpv6: 58 } as const;

const portRange = () => {
  const expected = 'a port like 53 or a range like "1024-65535"';
  return z
    .union([intInRange(0, 65535), z.string().regex(/^\d{1,5}-\d{1,5}$/)], { error: expected })
    .transform((v, ctx) => {
      const [lo, hi] = typeof v === 'number' ? [v, v] : (v.split('-').map(Number) as [number, number]);
      if (lo > hi || hi > 65535) ctx.addIssue({ code: 'custom', message: expected });
      return [lo, hi] as [number, number];
    });
};

const policySchema = z
  .strictObject({
    direction: z.enum(['in', 'out'], { error: 'in or out' }),
    action: z.enum(['protect', 'bypass', 'discard'], { error: 'protect, bypass or discard' }).default('protect'),
    src: ipv6NetworkPrefix().default('::/0'),
    dst: ipv6NetworkPrefix().default('::/0'),
    proto: z
      .union([z.enum(['any', 'tcp', 'udp', 'icmpv6']), intInRange(0, 255)], { error: 'any, tcp, udp, icmpv6 or a protocol number 0-255' })
      .default('any')
      .transform((p) => (typeof p === 'number' ? p : PROTOCOLS[p])),
    srcPort: portRange().optional(),
    dstPort: portRange().optional(),
    icmpType: intInRange(0, 255).optional(),
    icmpCode: intInRange(0, 255).optional(),
    sa: intInRange(256, UINT32_MAX, ' (the SPI of an SA)').optional(),
    // What a protect policy does once its SA is gone (hard lifetime, flush): RFC 4301
    // §4.4.1 discards; bypass is the operator's explicit choice to fail open.
    onExpire: z.enum(['discard', 'bypass'], { error: 'discard or bypass' }).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.action === 'protect' && p.sa === undefined) ctx.addIssue({ code: 'custom', path: ['sa'], message: 'the SPI of the SA that protects this traffic' });
    if (p.action !== 'protect' && p.onExpire !== undefined) ctx.addIssue({ code: 'custom', path: ['onExpire'], message: `no onExpire on a ${p.action} policy: only a protect policy has an SA to lose` });
    if (p.action !== 'protect' && p.sa !== undefined) ctx.addIssue({ code: 'custom', path: ['sa'], message: `no SA on a ${p.action} policy` });
    if ((p.srcPort !== undefined || p.dstPort !== undefined) && p.proto !== PROTOCOLS.tcp && p.proto !== PROTOCOLS.udp) {
      ctx.addIssue({ code: 'custom', path: [p.srcPort !== undefined ? 'srcPort' : 'dstPort'], message: 'ports only with proto: tcp or udp' });
    }
    if ((p.icmpType !== undefined || p.icmpCode !== undefined) && p.proto !== PROTOCOLS.icmpv6) {
      ctx.addIssue({ code: 'custom', path: [p.icmpType !== undefined ? 'icmpType' : 'icmpCode'], message: 'ICMPv6 type and code only with proto: icmpv6' });
    }
  });

/**
 * A route-based tunnel (an "ipsec interface", like a Linux XFRM interface or a VTI): a
 * tunnel-mode SA pair that routes point into instead of policies. What the routes send to
 * it leaves under `saOut`; what arrives under `saIn` is forwarded by the FIB if its inner
 * source is one of the tunnel's own routes (the traffic selector IKEv2 would negotiate,
 * RFC 7296 §2.9) — docs/ipsec.md, "Route-based tunnels".
 */
const tunnelSchema = z.strictObject({
  name: z.string({ error: 'a tunnel name' }).regex(/^[A-Za-z][A-Za-z0-9_.-]{0,31}$/, { error: 'a name of letters, digits, "_", "." or "-" (at most 32, a letter first)' }),
  saOut: intInRange(256, UINT32_MAX, ' (the SPI of an outbound tunnel-mode SA)'),
  saIn: intInRange(256, UINT32_MAX, ' (the SPI of an inbound tunnel-mode SA)'),
  routes: listOf(ipv6NetworkPrefix(), 'prefixes reached through the tunnel').default([]),
  preference: intInRange(0, 255).default(10),
});

export const ipsecSection = defineSection(
  'ipsec',
  z
    .strictObject({
      sas: listOf(saSchema, 'security associations').default([]),
      policies: listOf(policySchema, 'security policies (first match wins)').default([]),
      tunnels: listOf(tunnelSchema, 'route-based tunnels').default([]),
      // The crypto path (docs/ipsec.md): the C helper when built, only the C helper, or node:crypto.
      crypto: z.enum(['auto', 'native', 'node'], { error: 'auto, native or node' }).default('auto'),
    })
    .superRefine((v, ctx) => {
      if (ctx.issues.length > 0) return;
      if (v.sas.length > MAX_SA_SLOTS) ctx.addIssue({ code: 'custom', path: ['sas'], message: `at most ${MAX_SA_SLOTS} SAs` });
      const seen = new Map<string, number>();
      v.sas.forEach((sa, i) => {
        const key = `${sa.direction}/${sa.spi}`;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, i);
        else ctx.addIssue({ code: 'custom', path: ['sas', i, 'spi'], message: `an SPI no other ${sa.direction}bound SA has (sas[${first}] has ${sa.spi})` });
      });
      v.policies.forEach((p, i) => {
        if (p.sa === undefined) return;
        if (!seen.has(`${p.direction}/${p.sa}`)) {
          ctx.addIssue({ code: 'custom', path: ['policies', i, 'sa'], message: `the SPI of an ${p.direction}bound SA in ipsec.sas` });
        }
      });
      checkTunnels(v, ctx);
    })
    .optional(),
  { summary: 'ESP security associations (manual keys) and the security policy database.', reload: { kind: 'in-place' } },
);

type IpsecShape = {
  crypto: string;
  sas: z.output<typeof saSchema>[];
  policies: z.output<typeof policySchema>[];
  tunnels: z.output<typeof tunnelSchema>[];
};

/**
 * A tunnel's SAs exist, are tunnel mode, face each other (the outbound SA's endpoints are the
 * inbound one's, reversed), and serve this tunnel alone: an SA that a policy or a second
 * tunnel also used would have two masters for its traffic.
 */
function checkTunnels(v: IpsecShape, ctx: z.RefinementCtx): void {
  const names = new Map<string, number>();
  const usedBy = new Map<string, string>();
  const prefixes = new Map<string, number>();
  for (const p of v.policies) if (p.sa !== undefined) usedBy.set(`${p.direction}/${p.sa}`, 'a policy');
  v.tunnels.forEach((t, i) => {
    const first = names.get(t.name);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['tunnels', i, 'name'], message: `a name no other tunnel has (tunnels[${first}] is ${t.name})` });
    else names.set(t.name, i);
    const find = (direction: 'in' | 'out', spi: number) => v.sas.find((sa) => sa.direction === direction && sa.spi === spi);
    const out = find('out', t.saOut);
    const inb = find('in', t.saIn);
    for (const [key, sa, direction, spi] of [['saOut', out, 'out', t.saOut], ['saIn', inb, 'in', t.saIn]] as const) {
      if (sa === undefined) {
        ctx.addIssue({ code: 'custom', path: ['tunnels', i, key], message: `the SPI of an ${direction}bound SA in ipsec.sas` });
        continue;
      }
      if (sa.mode !== 'tunnel') ctx.addIssue({ code: 'custom', path: ['tunnels', i, key], message: `an SA with mode: tunnel (SPI ${spi} is transport mode)` });
      const owner = usedBy.get(`${direction}/${spi}`);
      if (owner !== undefined) ctx.addIssue({ code: 'custom', path: ['tunnels', i, key], message: `an SA of this tunnel alone (SPI ${spi} already serves ${owner})` });
      else usedBy.set(`${direction}/${spi}`, `tunnel ${t.name}`);
    }
    if (out !== undefined && inb !== undefined && (out.src !== inb.dst || out.dst !== inb.src)) {
      ctx.addIssue({ code: 'custom', path: ['tunnels', i, 'saIn'], message: `an inbound SA from ${out.dst} to ${out.src}, the reverse of saOut's endpoints` });
    }
    t.routes.forEach((prefix, k) => {
      const other = prefixes.get(prefix);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['tunnels', i, 'routes', k], message: `a prefix no other tunnel routes (tunnels[${other}] has ${prefix})` });
      else prefixes.set(prefix, i);
    });
  });
}

export type IpsecConfig = NonNullable<z.output<typeof ipsecSection.schema>>;
export type SaConfig = IpsecConfig['sas'][number];
export type PolicyConfig = IpsecConfig['policies'][number];
export type TunnelConfig = IpsecConfig['tunnels'][number];
