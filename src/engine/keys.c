/*
 * keys.c — API keys: random secrets, stored only as SHA-256 hashes.
 *
 * Authentication here is one indexed lookup by hash, every time; the HTTP
 * layer caches its answers per loop thread for at most a second and drops
 * them when a key is revoked (src/http/routes.c).  Comparing hashes rather
 * than secrets means the lookup's timing says nothing about the secret.
 */
#include "engine/keys.h"
#include "engine/internal.h"

#include <assert.h>
#include <string.h>

#include <openssl/rand.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; out must hold 4 * ceil(n / 3) + 1 bytes. */
static size_t b64url_encode(const uint8_t *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return o;
}

void jf_key_hash(const char *key, size_t len, uint8_t out[JF_HASH_BYTES]) { jf_sha256(key, len, out); }

static bool name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > JF_KEY_NAME_BYTES_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return false;
    return true;
}

jf_code jf_key_create(jf_store *s, int64_t tenant_id, jf_role role, const char *name, int64_t now_ms, char *key_out,
                      size_t key_cap, jf_api_key *rec_out, jf_error *err) {
    assert(s != NULL);
    assert(key_out != NULL);
    if (key_cap <= JF_KEY_TEXT_LEN) return jf_fail(err, JF_INTERNAL, "", "key buffer too small");
    if (role != JF_ROLE_READ && role != JF_ROLE_APP && role != JF_ROLE_ADMIN)
        return jf_fail(err, JF_INVALID_FIELD, "role", "role must be admin, app or read");
    if (name == NULL || !name_valid(name))
        return jf_fail(err, JF_INVALID_FIELD, "name", "name must be 1..%d bytes without control characters",
                       JF_KEY_NAME_BYTES_MAX);

    uint8_t secret[JF_KEY_SECRET_BYTES];
    if (RAND_bytes(secret, sizeof secret) != 1)
        return jf_fail(err, JF_UNAVAILABLE, "", "the random number generator failed");
    char encoded[4 * ((JF_KEY_SECRET_BYTES + 2) / 3) + 1];
    size_t encoded_len = b64url_encode(secret, sizeof secret, encoded);
    memset(secret, 0, sizeof secret);
    int written = snprintf(key_out, key_cap, "%s%s", JF_KEY_TEXT_PREFIX, encoded);
    assert(written == JF_KEY_TEXT_LEN);
    (void)written;
    (void)encoded_len;

    jf_api_key k;
    memset(&k, 0, sizeof k);
    k.tenant_id = tenant_id;
    snprintf(k.name, sizeof k.name, "%s", name);
    memcpy(k.prefix, key_out, JF_KEY_PREFIX_LEN);
    k.prefix[JF_KEY_PREFIX_LEN] = '\0';
    jf_key_hash(key_out, JF_KEY_TEXT_LEN, k.secret_hash);
    k.role = role;
    k.created_at_ms = now_ms;
    k.revoked_at_ms = 0;
    jf_code rc = s->ops->key_insert(s, &k, err);
    if (rc != JF_OK) {
        memset(key_out, 0, key_cap);
        return rc;
    }
    if (rec_out) *rec_out = k;
    return JF_OK;
}

jf_code jf_key_authenticate(jf_store *s, const char *key, jf_api_key *out, jf_error *err) {
    assert(s != NULL);
    assert(out != NULL);
    size_t n = key ? strlen(key) : 0;
    if (n != JF_KEY_TEXT_LEN || strncmp(key, JF_KEY_TEXT_PREFIX, strlen(JF_KEY_TEXT_PREFIX)) != 0)
        return jf_fail(err, JF_UNAUTHORIZED, "", "the API key is malformed");
    uint8_t hash[JF_HASH_BYTES];
    jf_key_hash(key, n, hash);
    jf_code rc = s->ops->key_get_by_hash(s, hash, out, err);
    if (rc == JF_NOT_FOUND) return jf_fail(err, JF_UNAUTHORIZED, "", "the API key is not known");
    if (rc != JF_OK) return rc;
    if (out->revoked_at_ms != 0) return jf_fail(err, JF_UNAUTHORIZED, "", "the API key has been revoked");
    return JF_OK;
}

jf_code jf_key_revoke(jf_store *s, int64_t tenant_id, int64_t key_id, int64_t now_ms, jf_api_key *out,
                      jf_error *err) {
    assert(s != NULL);
    jf_api_key k;
    jf_code rc = s->ops->key_get(s, key_id, &k, err);
    if (rc == JF_NOT_FOUND || (rc == JF_OK && k.tenant_id != tenant_id))
        return jf_fail(err, JF_NOT_FOUND, "key_id", "no key %lld", (long long)key_id);
    if (rc != JF_OK) return rc;
    if (k.revoked_at_ms == 0) {
        rc = s->ops->key_revoke(s, key_id, now_ms, err);
        if (rc != JF_OK) return rc;
        k.revoked_at_ms = now_ms;
    }
    if (out) *out = k;
    return JF_OK;
}
