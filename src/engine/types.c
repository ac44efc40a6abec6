/*
 * types.c — names of the domain enums as the API and CLI spell them.
 */
#include "engine/types.h"

#include <string.h>

static const char *const entry_kinds[JF__ENTRY_KIND_COUNT] = {
    "earn", "spend", "hold", "capture", "release", "reverse", "expire", "adjust", "activate",
};
static const char *const lot_states[] = {"pending", "active", "expired"};
static const char *const hold_states[] = {"open", "captured", "released", "expired"};
static const char *const member_statuses[] = {"active", "frozen"};
static const char *const roles[] = {"read", "app", "admin"};

static int parse_name(const char *const *names, int count, const char *s) {
    if (s == NULL) return -1;
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define NAME(a, i) ((unsigned)(i) < (unsigned)COUNT(a) ? (a)[i] : "?")

const char *jf_entry_kind_name(jf_entry_kind k) { return NAME(entry_kinds, k); }
int jf_entry_kind_parse(const char *s) { return parse_name(entry_kinds, COUNT(entry_kinds), s); }
const char *jf_lot_state_name(jf_lot_state s) { return NAME(lot_states, s); }
const char *jf_hold_state_name(jf_hold_state s) { return NAME(hold_states, s); }
const char *jf_member_status_name(jf_member_status s) { return NAME(member_statuses, s); }
int jf_member_status_parse(const char *s) { return parse_name(member_statuses, COUNT(member_statuses), s); }
const char *jf_role_name(jf_role r) { return NAME(roles, r); }
int jf_role_parse(const char *s) { return parse_name(roles, COUNT(roles), s); }
