/*
 * store.c — opening a store by its location.
 *
 * A location is either a PostgreSQL URL (postgres:// or postgresql://) or a
 * filesystem path, which is a SQLite database.  Everything after opening goes
 * through the backend's jf_store_ops.
 */
#include <assert.h>
#include <string.h>

#include "store/store.h"

static bool is_postgres_url(const char *location) {
    return strncmp(location, "postgres://", strlen("postgres://")) == 0 ||
           strncmp(location, "postgresql://", strlen("postgresql://")) == 0;
}

jf_code jf_store_open(const char *location, jf_store **out, jf_error *err) {
    assert(out != NULL);
    *out = NULL;
    if (location == NULL || location[0] == '\0')
        return jf_fail(err, JF_INVALID_FIELD, "db", "a database path or postgres:// URL is required");
    if (is_postgres_url(location)) return jf_pg_open(location, out, err);
    return jf_sqlite_open(location, out, err);
}

jf_code jf_store_exec_raw(jf_store *s, const char *sql, jf_error *err) {
    assert(s != NULL);
    if (strcmp(s->ops->name, "postgres") == 0) return jf_pg_exec_raw(s, sql, err);
    return jf_sqlite_exec_raw(s, sql, err);
}

void jf_store_close(jf_store *s) {
    if (s == NULL) return;
    assert(s->ops != NULL);
    s->ops->close(s);
}
