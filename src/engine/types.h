/*
 * types.h — the ledger's domain records, shared by the engine and the store.
 *
 * Records are plain structs with fixed-size text buffers: a store fills them
 * from rows, the engine reads and changes them, nothing allocates.  Text
 * buffers are sized from limits.h (+1 for the NUL).  Times are UTC
 * milliseconds since the epoch; JF_NEVER marks "no expiry".
 *
 * Account invariant (checked by verify, kept by every operation):
 *   available + frozen + pending - debt == earned - spent - expired
 *   available == sum(remaining) of the member's active lots
 *   pending   == sum(remaining) of the member's pending lots
 *   frozen    == sum(points - captured) of the member's open holds
 *   each account field == the sum of that field's delta over all entries
 */
#ifndef JF_TYPES_H
#define JF_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "util/limits.h"

#define JF_NEVER INT64_MAX /* expires_at_ms of a lot that never expires */
#define JF_HASH_BYTES 32

typedef enum { JF_EXPIRY_NEVER = 0, JF_EXPIRY_ROLLING = 1, JF_EXPIRY_ANNUAL = 2 } jf_expiry_kind;
typedef enum { JF_UNIT_DAYS = 0, JF_UNIT_MONTHS = 1 } jf_expiry_unit;
typedef enum {
    JF_ROUND_NONE = 0,
    JF_ROUND_DAY = 1,     /* up to the end of the local day */
    JF_ROUND_MONTH = 2,   /* … of the local month */
    JF_ROUND_QUARTER = 3, /* … of the calendar quarter */
    JF_ROUND_YEAR = 4     /* … of the calendar year */
} jf_expiry_round;

/* How points expire.  ROLLING: n units after earning, then rounded up.
 * ANNUAL: every year at the end of clear_month-clear_day (local), what was
 * earned before the previous clearing moment `years` years ago is cleared;
 * i.e. a lot expires `years` years after the first clearing moment that
 * follows its earning (years == 0: at that first clearing moment). */
typedef struct {
    jf_expiry_kind kind;
    int32_t n;
    jf_expiry_unit unit;
    jf_expiry_round round;
    int32_t clear_month; /* 1..12 */
    int32_t clear_day;   /* 1..31, valid for the month; Feb 29 is refused */
    int32_t years;       /* 0..JF_EXPIRY_YEARS_MAX */
} jf_expiry_policy;

/* What reversing an earn does when the member has already spent the points. */
typedef enum {
    JF_REFUND_DEBT = 0, /* the shortfall becomes debt, paid off by later points */
    JF_REFUND_CLAMP = 1 /* the shortfall is forgiven (and reported) */
} jf_refund_policy;

typedef struct {
    int64_t id;
    char slug[JF_TENANT_SLUG_LEN_MAX + 1];
    char name[JF_TENANT_NAME_BYTES_MAX + 1];
    char timezone[JF_TIMEZONE_LEN_MAX + 1];
    jf_expiry_policy expiry;
    jf_refund_policy refund;
    int64_t created_at_ms;
    int64_t updated_at_ms;
} jf_tenant;

typedef struct {
    int64_t available; /* spendable now */
    int64_t frozen;    /* held by open holds */
    int64_t pending;   /* earned, not yet active */
    int64_t debt;      /* owed after reversing already-spent points */
    int64_t earned;    /* lifetime, net of earn reversals */
    int64_t spent;     /* lifetime, net of spend reversals */
    int64_t expired;   /* lifetime */
} jf_account;

typedef enum { JF_MEMBER_ACTIVE = 0, JF_MEMBER_FROZEN = 1 } jf_member_status;

typedef struct {
    int64_t id; /* internal */
    int64_t tenant_id;
    char ext_id[JF_MEMBER_ID_LEN_MAX + 1]; /* the merchant's member id */
    jf_member_status status;
    jf_account acct;
    int64_t entry_seq; /* number of entries so far; the next entry gets seq+1 */
    uint8_t last_hash[JF_HASH_BYTES]; /* hash of entry number entry_seq; zeros if none */
    int64_t created_at_ms;
    int64_t updated_at_ms;
} jf_member;

typedef enum {
    JF_ENTRY_EARN = 0,
    JF_ENTRY_SPEND = 1,
    JF_ENTRY_HOLD = 2,
    JF_ENTRY_CAPTURE = 3,
    JF_ENTRY_RELEASE = 4,
    JF_ENTRY_REVERSE = 5,
    JF_ENTRY_EXPIRE = 6,
    JF_ENTRY_ADJUST = 7,
    JF_ENTRY_ACTIVATE = 8,
    JF__ENTRY_KIND_COUNT
} jf_entry_kind;

/* One ledger line.  `points` is what a person reads (signed: +earned,
 * -spent); the d_* fields are the exact change of each account field, so the
 * account can always be recomputed from the entries.  Entries are never
 * updated or deleted. */
typedef struct {
    int64_t id;
    int64_t tenant_id;
    int64_t member_id;
    int64_t seq; /* 1, 2, 3… per member; the hash chain follows seq */
    jf_entry_kind kind;
    int64_t points;
    jf_account delta;
    int64_t available_after;
    char scene[JF_SCENE_LEN_MAX + 1];
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];  /* "" for job entries */
    char reason[JF_REASON_BYTES_MAX + 1];
    char operator_id[JF_OPERATOR_LEN_MAX + 1];
    int64_t ref_entry_id; /* reverse: the entry reversed; capture/release: the hold entry; 0 if none */
    int64_t lot_id;       /* earn/adjust+: the lot it created; 0 if none */
    int64_t hold_id;      /* hold/capture/release: the hold; 0 if none */
    int64_t created_at_ms;
    uint8_t prev_hash[JF_HASH_BYTES];
    uint8_t hash[JF_HASH_BYTES];
} jf_entry;

typedef enum { JF_LOT_PENDING = 0, JF_LOT_ACTIVE = 1, JF_LOT_EXPIRED = 2 } jf_lot_state;

/* A batch of points from one earn (or positive adjustment).  remaining
 * changes only through lot moves: remaining == amount + sum(moves). */
typedef struct {
    int64_t id;
    int64_t tenant_id;
    int64_t member_id;
    int64_t entry_id; /* the earn/adjust entry that created it */
    int64_t amount;
    int64_t remaining;
    jf_lot_state state;
    int64_t available_at_ms;
    int64_t expires_at_ms; /* JF_NEVER if it never expires */
    int64_t created_at_ms;
} jf_lot;

/* A change of one lot's remaining by one entry (negative: taken). */
typedef struct {
    int64_t id;
    int64_t entry_id;
    int64_t lot_id;
    int64_t points;
} jf_lot_move;

typedef enum {
    JF_HOLD_OPEN = 0,
    JF_HOLD_CAPTURED = 1,
    JF_HOLD_RELEASED = 2,
    JF_HOLD_EXPIRED = 3 /* released by the jobs after its ttl */
} jf_hold_state;

typedef struct {
    int64_t id;
    int64_t tenant_id;
    int64_t member_id;
    int64_t entry_id; /* the hold entry; its lot moves say which lots are held */
    int64_t points;
    int64_t captured;
    jf_hold_state state;
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    int64_t expires_at_ms;
    int64_t created_at_ms;
    int64_t closed_at_ms; /* 0 while open */
} jf_hold;

/* The first answer to a biz_no, kept so that a replay gets it again. */
typedef enum {
    JF_OP_EARN = 0,
    JF_OP_SPEND = 1,
    JF_OP_HOLD = 2,
    JF_OP_CAPTURE = 3,
    JF_OP_RELEASE = 4,
    JF_OP_REVERSE = 5,
    JF_OP_ADJUST = 6,
    JF__OP_COUNT
} jf_op_kind;

typedef struct {
    int64_t tenant_id;
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    jf_op_kind op;
    uint8_t fingerprint[JF_HASH_BYTES]; /* SHA-256 of the canonical request */
    int64_t member_id;
    int64_t entry_id; /* the principal entry it wrote */
    char result[1024]; /* the original result, as the engine serialised it */
    int64_t created_at_ms;
} jf_idem;

typedef enum { JF_ROLE_READ = 0, JF_ROLE_APP = 1, JF_ROLE_ADMIN = 2 } jf_role;

typedef struct {
    int64_t id;
    int64_t tenant_id;
    char name[JF_KEY_NAME_BYTES_MAX + 1];
    char prefix[16];                 /* first characters of the key, shown in lists */
    uint8_t secret_hash[JF_HASH_BYTES]; /* SHA-256 of the whole key */
    jf_role role;
    int64_t created_at_ms;
    int64_t revoked_at_ms; /* 0 while valid */
} jf_api_key;

const char *jf_entry_kind_name(jf_entry_kind kind);
int jf_entry_kind_parse(const char *name); /* -1 if unknown */
const char *jf_lot_state_name(jf_lot_state state);
const char *jf_hold_state_name(jf_hold_state state);
const char *jf_member_status_name(jf_member_status status);
int jf_member_status_parse(const char *name);
const char *jf_role_name(jf_role role);
int jf_role_parse(const char *name);

#endif
