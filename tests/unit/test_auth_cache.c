/*
 * test_auth_cache.c — the HTTP loop's cache of API keys (routes.c:
 * jf_auth_lookup) and the read snapshot its requests share within one turn
 * of the event loop (jf_loop_read).  A snapshot that a request of the turn
 * began before a key was revoked must not fill the cache with the key as
 * if it were still valid after the revocation: requests sent after the
 * revocation's answer would be let in until the cache entry aged out.
 * (Found by review: under load, a revoked read key kept working for up to
 * a second.)
 */
#include <criterion/criterion.h>

#include "engine/keys.h"
#include "fixture.h"
#include "http/http.h"

TestSuite(auth_cache, .init = fx_setup, .fini = fx_teardown);

typedef struct {
    char text[JF_KEY_TEXT_LEN + 1];
    jf_api_key rec;
} key_arg;

static jf_code create_key(jf_store *s, void *arg, jf_error *err) {
    key_arg *k = arg;
    return jf_key_create(s, fx.tenant.id, JF_ROLE_READ, "reader", FX_T0, k->text, sizeof k->text, &k->rec, err);
}

static jf_code revoke_key(jf_store *s, void *arg, jf_error *err) {
    key_arg *k = arg;
    return jf_key_revoke(s, fx.tenant.id, k->rec.id, FX_T0 + 1, NULL, err);
}

Test(auth_cache, a_snapshot_older_than_a_revocation_does_not_pass_for_current) {
    key_arg k;
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, create_key, &k, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);

    /* A loop thread's own handle, as the server gives each loop. */
    jf_loop loop;
    memset(&loop, 0, sizeof loop);
    rc = jf_store_open(fx.path, &loop.store, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    jf_api_key got;
    jf_tenant tenant;

    /* A turn: a request begins the snapshot and finds the key. */
    rc = jf_auth_lookup(&loop, k.text, &got, &tenant, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(got.id, k.rec.id);
    cr_assert(loop.reading, "the turn's snapshot is open");

    /* The writer revokes the key and commits; the server then bumps the
     * cache's generation (handlers_keys.c). */
    rc = fx_tx(&fx, revoke_key, &k, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    jf_auth_cache_invalidate();

    /* Later in the same turn: the key is looked up again, not in the
     * snapshot that predates the revocation. */
    rc = jf_auth_lookup(&loop, k.text, &got, &tenant, &err);
    FX_ASSERT_CODE(rc, JF_UNAUTHORIZED, err);
    jf_loop_read_end(&loop);

    /* Every later turn refuses it too: nothing stale was cached. */
    for (int turn = 0; turn < 3; turn++) {
        jf_error_clear(&err);
        rc = jf_auth_lookup(&loop, k.text, &got, &tenant, &err);
        FX_ASSERT_CODE(rc, JF_UNAUTHORIZED, err);
        jf_loop_read_end(&loop);
    }
    jf_store_close(loop.store);
}
