/*
 * t6crypto: the ESP crypto primitive over packets in place, for turtle6's lanes (loaded by
 * koffi, native-bindings/t6crypto.ts; the contract is docs/ipsec.md, "The crypto paths").
 *
 * It does only crypto: one SA's cipher (and HMAC) contexts are keyed once and reused for
 * every packet, and one call processes a batch of packets lying in one buffer (a lane's
 * SharedArrayBuffer). Every ESP decision (SA choice, sequence numbers, replay, padding,
 * encapsulation, policy) stays in TypeScript; the caller writes the ESP header (SPI, low
 * sequence word) and the 8-byte IV counter block before seal, exactly as the node:crypto
 * path (src/ipsec/transform.ts) does, so both paths put identical bytes on the wire.
 *
 * Layout at esp[i] (RFC 4303 §2): SPI | Seq | IV | plaintext or ciphertext | ICV.
 *   AES-GCM (RFC 4106): nonce = salt ‖ IV (§4); AAD = SPI ‖ Seq, or SPI ‖ Seq-hi ‖ Seq-lo
 *     with ESN (§5); 16-byte tag.
 *   AES-CBC (RFC 3602): the IV field holds the counter block; it is replaced by its AES
 *     encryption under the SA key (NIST SP 800-38A Appendix C), then CBC without padding.
 *   HMAC-SHA-256-128 (RFC 4868) over SPI..ciphertext, then Seq-hi with ESN (RFC 4303
 *   §3.3.2.2.1); verified in constant time before anything is decrypted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define T6C_GCM 1
#define T6C_CBC 2
#define T6C_NULL 3

#define ESP_HDR 8
#define GCM_IV 8
#define GCM_TAG 16
#define CBC_IV 16
#define HMAC_ICV 16

struct t6c_sa {
    int kind;
    int esn;
    int hmac;
    uint8_t salt[4];
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
    EVP_CIPHER_CTX *ecb;
    EVP_MAC_CTX *mac;
};

void t6c_sa_free(struct t6c_sa *sa)
{
    if (sa == NULL) return;
    EVP_CIPHER_CTX_free(sa->enc);
    EVP_CIPHER_CTX_free(sa->dec);
    EVP_CIPHER_CTX_free(sa->ecb);
    EVP_MAC_CTX_free(sa->mac);
    OPENSSL_cleanse(sa, sizeof *sa);
    free(sa);
}

static const EVP_CIPHER *aes(int kind, int key_len)
{
    if (kind == T6C_GCM) return key_len == 16 ? EVP_aes_128_gcm() : key_len == 32 ? EVP_aes_256_gcm() : NULL;
    return key_len == 16 ? EVP_aes_128_cbc() : key_len == 32 ? EVP_aes_256_cbc() : NULL;
}

/*
 * kind: T6C_GCM (enc_key = AES key ‖ 4-byte salt), T6C_CBC or T6C_NULL; auth_len 0 (no
 * integrity) or 32 (HMAC-SHA-256-128). NULL on bad parameters or an OpenSSL failure.
 */
struct t6c_sa *t6c_sa_new(int kind, const uint8_t *enc_key, int enc_len, const uint8_t *auth_key, int auth_len, int esn)
{
    struct t6c_sa *sa = calloc(1, sizeof *sa);
    if (sa == NULL) return NULL;
    sa->kind = kind;
    sa->esn = esn != 0;
    sa->hmac = auth_len > 0;
    int ok = 1;
    if (kind == T6C_GCM) {
        const EVP_CIPHER *c = aes(kind, enc_len - 4);
        ok = c != NULL && auth_len == 0;
        if (ok) {
            memcpy(sa->salt, enc_key + enc_len - 4, 4);
            sa->enc = EVP_CIPHER_CTX_new();
            sa->dec = EVP_CIPHER_CTX_new();
            ok = sa->enc && sa->dec && EVP_EncryptInit_ex(sa->enc, c, NULL, enc_key, NULL) == 1 &&
                 EVP_DecryptInit_ex(sa->dec, c, NULL, enc_key, NULL) == 1;
        }
    } else if (kind == T6C_CBC) {
        const EVP_CIPHER *c = aes(kind, enc_len);
        ok = c != NULL;
        if (ok) {
            sa->enc = EVP_CIPHER_CTX_new();
            sa->dec = EVP_CIPHER_CTX_new();
            sa->ecb = EVP_CIPHER_CTX_new();
            ok = sa->enc && sa->dec && sa->ecb && EVP_EncryptInit_ex(sa->enc, c, NULL, enc_key, NULL) == 1 &&
                 EVP_DecryptInit_ex(sa->dec, c, NULL, enc_key, NULL) == 1 &&
                 EVP_EncryptInit_ex(sa->ecb, enc_len == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb(), NULL, enc_key, NULL) == 1;
            if (ok) {
                EVP_CIPHER_CTX_set_padding(sa->enc, 0);
                EVP_CIPHER_CTX_set_padding(sa->dec, 0);
                EVP_CIPHER_CTX_set_padding(sa->ecb, 0);
            }
        }
    } else if (kind == T6C_NULL) {
        /* RFC 4303 §3.2: NULL encryption only with integrity. */
        ok = enc_len == 0 && auth_len > 0;
    } else {
        ok = 0;
    }
    if (ok && sa->hmac) {
        ok = auth_len == 32;
        EVP_MAC *hmac = ok ? EVP_MAC_fetch(NULL, "HMAC", NULL) : NULL;
        sa->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
        EVP_MAC_free(hmac);
        char digest[] = "SHA256";
        OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end() };
        ok = sa->mac != NULL && EVP_MAC_init(sa->mac, auth_key, (size_t)auth_len, params) == 1;
    }
    if (!ok) {
        t6c_sa_free(sa);
        return NULL;
    }
    return sa;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/* RFC 4106 §5: the AAD; its length. */
static int gcm_aad(const struct t6c_sa *sa, const uint8_t *esp, uint32_t seq_hi, uint8_t aad[12])
{
    memcpy(aad, esp, 4);
    if (!sa->esn) {
        memcpy(aad + 4, esp + 4, 4);
        return 8;
    }
    put_be32(aad + 4, seq_hi);
    memcpy(aad + 8, esp + 4, 4);
    return 12;
}

/* HMAC-SHA-256 of esp[0, len) (‖ Seq-hi with ESN), truncated to 128 bits (RFC 4868 §2.3). */
static int icv(struct t6c_sa *sa, const uint8_t *esp, int len, uint32_t seq_hi, uint8_t out[HMAC_ICV])
{
    uint8_t full[32];
    size_t outl = 0;
    uint8_t hi[4];
    put_be32(hi, seq_hi);
    if (EVP_MAC_init(sa->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(sa->mac, esp, (size_t)len) != 1) return 0;
    if (sa->esn && EVP_MAC_update(sa->mac, hi, 4) != 1) return 0;
    if (EVP_MAC_final(sa->mac, full, &outl, sizeof full) != 1 || outl != sizeof full) return 0;
    memcpy(out, full, HMAC_ICV);
    return 1;
}

static int seal_one(struct t6c_sa *sa, uint8_t *esp, int pt_len, uint32_t seq_hi)
{
    int n = 0;
    if (sa->kind == T6C_GCM) {
        uint8_t nonce[12], aad[12], *iv = esp + ESP_HDR, *pt = iv + GCM_IV;
        memcpy(nonce, sa->salt, 4);
        memcpy(nonce + 4, iv, GCM_IV);
        int aad_len = gcm_aad(sa, esp, seq_hi, aad);
        if (EVP_EncryptInit_ex(sa->enc, NULL, NULL, NULL, nonce) != 1 || EVP_EncryptUpdate(sa->enc, NULL, &n, aad, aad_len) != 1 ||
            EVP_EncryptUpdate(sa->enc, pt, &n, pt, pt_len) != 1 || EVP_EncryptFinal_ex(sa->enc, pt + n, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(sa->enc, EVP_CTRL_GCM_GET_TAG, GCM_TAG, pt + pt_len) != 1)
            return -1;
        return ESP_HDR + GCM_IV + pt_len + GCM_TAG;
    }
    int iv_len = sa->kind == T6C_CBC ? CBC_IV : 0;
    if (sa->kind == T6C_CBC) {
        uint8_t *iv = esp + ESP_HDR, *pt = iv + CBC_IV;
        /* The 8-byte counter block, zero-extended to one AES block, encrypted in place. */
        memset(iv + 8, 0, 8);
        if (pt_len % 16 != 0 || EVP_EncryptUpdate(sa->ecb, iv, &n, iv, CBC_IV) != 1 || n != CBC_IV ||
            EVP_EncryptInit_ex(sa->enc, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(sa->enc, pt, &n, pt, pt_len) != 1 ||
            EVP_EncryptFinal_ex(sa->enc, pt + n, &n) != 1)
            return -1;
    }
    int len = ESP_HDR + iv_len + pt_len;
    if (!sa->hmac) return len;
    if (!icv(sa, esp, len, seq_hi, esp + len)) return -1;
    return len + HMAC_ICV;
}

/* The plaintext length, or -1 when the ICV (or tag) does not verify. */
static int open_one(struct t6c_sa *sa, uint8_t *esp, int esp_len, uint32_t seq_hi)
{
    int n = 0;
    if (sa->kind == T6C_GCM) {
        int ct_len = esp_len - ESP_HDR - GCM_IV - GCM_TAG;
        if (ct_len < 0) return -1;
        uint8_t nonce[12], aad[12], *iv = esp + ESP_HDR, *ct = iv + GCM_IV;
        memcpy(nonce, sa->salt, 4);
        memcpy(nonce + 4, iv, GCM_IV);
        int aad_len = gcm_aad(sa, esp, seq_hi, aad);
        if (EVP_DecryptInit_ex(sa->dec, NULL, NULL, NULL, nonce) != 1 || EVP_DecryptUpdate(sa->dec, NULL, &n, aad, aad_len) != 1 ||
            EVP_CIPHER_CTX_ctrl(sa->dec, EVP_CTRL_GCM_SET_TAG, GCM_TAG, ct + ct_len) != 1)
            return -1;
        /*
         * GCM decrypts before the tag is checked in Final. On failure the ciphertext would be
         * left half-decrypted in place; the caller drops the packet, so nothing reads it.
         */
        if (EVP_DecryptUpdate(sa->dec, ct, &n, ct, ct_len) != 1 || EVP_DecryptFinal_ex(sa->dec, ct + n, &n) != 1) return -1;
        return ct_len;
    }
    int iv_len = sa->kind == T6C_CBC ? CBC_IV : 0;
    int icv_len = sa->hmac ? HMAC_ICV : 0;
    int ct_len = esp_len - ESP_HDR - iv_len - icv_len;
    if (ct_len < 0 || (sa->kind == T6C_CBC && ct_len % 16 != 0) || (sa->kind == T6C_NULL && ct_len % 4 != 0)) return -1;
    if (sa->hmac) {
        uint8_t mac[HMAC_ICV];
        int auth_len = esp_len - HMAC_ICV;
        if (!icv(sa, esp, auth_len, seq_hi, mac) || CRYPTO_memcmp(mac, esp + auth_len, HMAC_ICV) != 0) return -1;
    }
    if (sa->kind == T6C_CBC) {
        uint8_t *iv = esp + ESP_HDR, *ct = iv + CBC_IV;
        if (EVP_DecryptInit_ex(sa->dec, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(sa->dec, ct, &n, ct, ct_len) != 1 ||
            EVP_DecryptFinal_ex(sa->dec, ct + n, &n) != 1)
            return -1;
    }
    return ct_len;
}

/* The ESP length a seal of pt_len bytes writes: header, IV, ciphertext, ICV. */
static int64_t sealed_len(const struct t6c_sa *sa, int pt_len)
{
    int iv_len = sa->kind == T6C_GCM ? GCM_IV : sa->kind == T6C_CBC ? CBC_IV : 0;
    int icv_len = sa->kind == T6C_GCM ? GCM_TAG : sa->hmac ? HMAC_ICV : 0;
    return (int64_t)ESP_HDR + iv_len + pt_len + icv_len;
}

/* Whether [off, off + len) lies inside buf[0, buf_len): the caller's offsets are never trusted. */
static int inside(int32_t off, int64_t len, int32_t buf_len)
{
    return off >= 0 && len >= 0 && (int64_t)off + len <= (int64_t)buf_len;
}

/*
 * Seals n packets of one SA lying in buf[0, buf_len): packet i's ESP header at esp_off[i]
 * with pt_len[i] bytes of payload ‖ padding ‖ trailer behind the IV, Seq-hi seq_hi[i].
 * out_len[i] is the ESP length, or -1 on an OpenSSL failure or when the packet (with its
 * ICV) would not lie inside the buffer. Returns n, or -1 for a bad n or buffer.
 */
int t6c_seal(struct t6c_sa *sa, uint8_t *buf, int32_t buf_len, int n, const int32_t *esp_off, const int32_t *pt_len, const uint32_t *seq_hi, int32_t *out_len)
{
    if (sa == NULL || buf == NULL || buf_len < 0 || n < 0) return -1;
    for (int i = 0; i < n; i++) {
        if (pt_len[i] < 0 || !inside(esp_off[i], sealed_len(sa, pt_len[i]), buf_len)) out_len[i] = -1;
        else out_len[i] = seal_one(sa, buf + esp_off[i], pt_len[i], seq_hi[i]);
    }
    return n;
}

/*
 * Verifies and decrypts n packets of buf[0, buf_len) in place; out_len[i] is the plaintext
 * length, or -1 (integrity, or the packet does not lie inside the buffer). Returns n, or -1
 * for a bad n or buffer.
 */
int t6c_open(struct t6c_sa *sa, uint8_t *buf, int32_t buf_len, int n, const int32_t *esp_off, const int32_t *esp_len, const uint32_t *seq_hi, int32_t *out_len)
{
    if (sa == NULL || buf == NULL || buf_len < 0 || n < 0) return -1;
    for (int i = 0; i < n; i++) {
        if (esp_len[i] < ESP_HDR || !inside(esp_off[i], esp_len[i], buf_len)) out_len[i] = -1;
        else out_len[i] = open_one(sa, buf + esp_off[i], esp_len[i], seq_hi[i]);
    }
    return n;
}
