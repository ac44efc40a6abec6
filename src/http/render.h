/*
 * render.h — domain records as API JSON.
 *
 * One function per record, used by every endpoint that shows it, so a member
 * or an entry looks the same wherever it appears.  Times are RFC 3339 in the
 * tenant's zone (principle 6); "never" and "not yet" are null.  The json_t
 * functions return a new reference.
 */
#ifndef JF_HTTP_RENDER_H
#define JF_HTTP_RENDER_H

#include <jansson.h>

#include "engine/ledger.h"
#include "engine/types.h"
#include "util/json_text.h"

json_t *jf_render_time(const char *tz, int64_t ms);
json_t *jf_render_tenant(const jf_tenant *t);
json_t *jf_render_key(const jf_tenant *t, const jf_api_key *k);

/* The ledger's records are written straight into JSON text (json_text.h):
 * they are in every write's answer and in the hottest reads. */
void jf_render_time_text(jf_json_text *b, const char *tz, int64_t ms);
#define JF_KEY_TIME(b, key, tz, ms) (jf_json_lit(b, key), jf_render_time_text(b, tz, ms))
void jf_render_points_text(jf_json_text *b, const jf_account *a);
void jf_render_member_text(jf_json_text *b, const jf_tenant *t, const jf_member *m);
void jf_render_entry_text(jf_json_text *b, const jf_tenant *t, const char *member_id, const jf_entry *e);
void jf_render_lot_text(jf_json_text *b, const jf_tenant *t, const jf_lot *l);
void jf_render_hold_text(jf_json_text *b, const jf_tenant *t, const char *member_id, const jf_hold *h);
/* A write's answer: {member_id, points, entry, hold?, release_entry?, reversal?}. */
void jf_render_result_text(jf_json_text *b, const jf_tenant *t, const jf_result *r);

#endif
