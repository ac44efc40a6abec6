/*
 * hash.c — canonical encodings and SHA-256.
 *
 * Two things are hashed: an entry (for the member's tamper-evident chain) and
 * a write request (its idempotency fingerprint).  Both use one unambiguous
 * binary encoding: a tag, then each field as 8 big-endian bytes (integers) or
 * a 2-byte length and the bytes (text).  Changing the encoding of entries
 * breaks every stored chain, so the tag carries a version ("entry/1").
 */
#include <assert.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

#include "engine/internal.h"

void jf_canon_init(jf_canon *c, const char *tag) {
    c->len = 0;
    jf_canon_str(c, tag);
}

void jf_canon_bytes(jf_canon *c, const uint8_t *p, size_t n) {
    /* Inputs are bounded by limits.h: the largest entry encodes to under
     * 1 KiB.  Truncating would let two different entries hash alike, so
     * running out of room is a programming error, never a silent cut. */
    assert(c->len + n <= sizeof c->buf);
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

void jf_canon_int(jf_canon *c, int64_t v) {
    uint8_t b[8];
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)(u & 0xff);
        u >>= 8;
    }
    jf_canon_bytes(c, b, 8);
}

void jf_canon_str(jf_canon *c, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n > 0xffff) n = 0xffff;
    uint8_t b[2] = {(uint8_t)(n >> 8), (uint8_t)(n & 0xff)};
    jf_canon_bytes(c, b, 2);
    jf_canon_bytes(c, (const uint8_t *)(s ? s : ""), n);
}

/* OpenSSL 3's one-shot SHA256() fetches the algorithm from its provider on
 * every call (about 10,000 instructions, more than hashing an entry), so the
 * algorithm is fetched once and each thread reuses one digest context. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_ctx_key;

static void sha256_ctx_free(void *ctx) { EVP_MD_CTX_free(ctx); }

static void sha256_init_once(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&sha256_ctx_key, sha256_ctx_free);
}

void jf_sha256(const void *data, size_t n, uint8_t out[JF_HASH_BYTES]) {
    pthread_once(&sha256_once, sha256_init_once);
    EVP_MD_CTX *ctx = pthread_getspecific(sha256_ctx_key);
    if (ctx == NULL && sha256_md != NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx) pthread_setspecific(sha256_ctx_key, ctx);
    }
    unsigned int len = 0;
    if (ctx && EVP_DigestInit_ex(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, data, n) &&
        EVP_DigestFinal_ex(ctx, out, &len) && len == JF_HASH_BYTES)
        return;
    SHA256(data, n, out); /* the slow path gives the same digest */
}

void jf_canon_sha256(const jf_canon *c, uint8_t out[JF_HASH_BYTES]) { jf_sha256(c->buf, c->len, out); }

void jf_entry_hash(const jf_entry *e, const char *member_ext_id, uint8_t out[JF_HASH_BYTES]) {
    jf_canon c;
    jf_canon_init(&c, "jifen/entry/1");
    jf_canon_int(&c, e->tenant_id);
    jf_canon_str(&c, member_ext_id);
    jf_canon_int(&c, e->seq);
    jf_canon_int(&c, (int64_t)e->kind);
    jf_canon_int(&c, e->points);
    jf_canon_int(&c, e->delta.available);
    jf_canon_int(&c, e->delta.frozen);
    jf_canon_int(&c, e->delta.pending);
    jf_canon_int(&c, e->delta.debt);
    jf_canon_int(&c, e->delta.earned);
    jf_canon_int(&c, e->delta.spent);
    jf_canon_int(&c, e->delta.expired);
    jf_canon_int(&c, e->available_after);
    jf_canon_str(&c, e->scene);
    jf_canon_str(&c, e->biz_no);
    jf_canon_str(&c, e->reason);
    jf_canon_str(&c, e->operator_id);
    jf_canon_int(&c, e->ref_entry_id);
    jf_canon_int(&c, e->lot_id);
    jf_canon_int(&c, e->hold_id);
    jf_canon_int(&c, e->created_at_ms);
    jf_canon_bytes(&c, e->prev_hash, JF_HASH_BYTES);
    jf_canon_sha256(&c, out);
}
