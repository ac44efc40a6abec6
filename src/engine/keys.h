/*
 * keys.h — API keys: creation, authentication, revocation.
 *
 * A key is "jf_live_" followed by 43 base64url characters (JF_KEY_SECRET_BYTES
 * random bytes from OpenSSL's RAND_bytes).  Only its SHA-256 is stored; the
 * secret is shown once, when it is created.  The first JF_KEY_PREFIX_LEN
 * characters are kept in clear so that lists can tell keys apart.  A key
 * carries its tenant and its role: the key alone decides whose data a
 * request sees and what it may do.
 */
#ifndef JF_KEYS_H
#define JF_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/types.h"
#include "store/store.h"
#include "util/errors.h"

#define JF_KEY_TEXT_PREFIX "jf_live_"
/* "jf_live_" + base64url(32 bytes) = 8 + 43 characters. */
#define JF_KEY_TEXT_LEN 51
/* Characters kept in clear for listing: "jf_live_" + 4 of the secret. */
#define JF_KEY_PREFIX_LEN 12
_Static_assert(JF_KEY_PREFIX_LEN < sizeof(((jf_api_key *)0)->prefix), "prefix fits the record");

/* Create a key for tenant_id with role and name (inside a write
 * transaction).  key_out (key_cap > JF_KEY_TEXT_LEN) receives the secret
 * text; rec_out (may be NULL) the stored record. */
jf_code jf_key_create(jf_store *s, int64_t tenant_id, jf_role role, const char *name, int64_t now_ms, char *key_out,
                      size_t key_cap, jf_api_key *rec_out, jf_error *err);

/* Find the live key whose text is `key` (inside a read or write
 * transaction).  Unknown, malformed and revoked keys are JF_UNAUTHORIZED. */
jf_code jf_key_authenticate(jf_store *s, const char *key, jf_api_key *out, jf_error *err);

/* Revoke key_id of tenant_id (inside a write transaction).  A key of another
 * tenant is JF_NOT_FOUND; revoking a revoked key is a no-op.  out (may be
 * NULL) receives the record after revocation. */
jf_code jf_key_revoke(jf_store *s, int64_t tenant_id, int64_t key_id, int64_t now_ms, jf_api_key *out,
                      jf_error *err);

/* SHA-256 of a key's text. */
void jf_key_hash(const char *key, size_t len, uint8_t out[JF_HASH_BYTES]);

#endif
