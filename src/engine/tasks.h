/*
 * tasks.h — tasks (任务): goals counted from events, with a points reward.
 *
 * A task is daily, weekly, monthly or one-time (newbie, growth); its goal is
 * a count of matching events ("3 orders this week") or a sum of their
 * amount_fen ("spend 500 yuan this month"); matching means the event's type
 * and an optional condition (`when`, the language of expr.h, without item
 * fields).  Progress is kept per member and period (tenant time), so a new
 * day/week/month starts from zero by itself.  When the goal is reached the
 * reward is earned at once ("auto") or when the member claims it ("claim").
 * Like rules, a task is stored as its JSON definition and every change makes
 * a new version.  Progress is advanced by events (events.c) and read or
 * claimed through jf_task_* below.
 */
#ifndef JF_TASKS_H
#define JF_TASKS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/expr.h"
#include "engine/ledger.h"
#include "engine/rules.h"
#include "util/errors.h"
#include "util/limits.h"

typedef enum { JF_TASK_DAILY = 0, JF_TASK_WEEKLY = 1, JF_TASK_MONTHLY = 2, JF_TASK_ONCE = 3 } jf_task_period;

typedef struct {
    int64_t id;
    int64_t version;
    char name[JF_RULE_NAME_BYTES_MAX + 1];
    bool enabled;
    jf_task_period period;
    char event_type[JF_EVENT_TYPE_LEN_MAX + 1];
    char when[JF_EXPR_SOURCE_BYTES_MAX + 1];
    bool goal_is_sum;     /* sum of amount_fen, else a count of events */
    int64_t goal;         /* events, or fen */
    int64_t reward_points;
    bool claim;           /* the reward waits for a claim */
} jf_task;

typedef struct {
    jf_task task;
    jf_expr_program *program; /* NULL: no condition */
} jf_compiled_task;

/* Parse and check a task definition; compiles its condition into ct (may be
 * NULL: check only).  Errors name the field, like jf_rule_parse. */
jf_code jf_task_parse(const json_t *def, jf_task *out, jf_compiled_task *ct, jf_error *err);
json_t *jf_task_to_json(const jf_task *t);
jf_code jf_task_compile(const jf_task *t, jf_compiled_task *ct, jf_error *err);
void jf_compiled_task_free(jf_compiled_task *ct);
const char *jf_task_period_name(jf_task_period p);

/* The start of the task's period containing ms in tenant time (0 for a
 * one-time task) and its end (INT64_MAX for a one-time task). */
bool jf_task_period_bounds(const jf_task *t, const char *tz, int64_t ms, int64_t *start_ms, int64_t *end_ms);

/* A member's state on one task in the current period. */
typedef struct {
    int64_t task_id, task_version;
    char name[JF_RULE_NAME_BYTES_MAX + 1];
    jf_task_period period;
    bool goal_is_sum, claim;
    int64_t goal, reward_points;
    int64_t period_start_ms, period_end_ms;
    int64_t progress;
    bool completed, rewarded;
    int64_t points_awarded; /* this call (advance or claim) */
} jf_task_state;

/* The tenant's tasks with the member's progress as of c->now_ms, id order
 * (a member never seen has no progress).  *n ≤ JF_TASKS_PER_TENANT_MAX. */
jf_code jf_tasks_of_member(const jf_ctx *c, const char *member_id, jf_task_state *out, size_t *n, jf_error *err);

/* Claim a completed task's reward in the current period (write
 * transaction).  Not completed, or rewarded automatically:
 * JF_INVALID_STATE.  A repeated claim answers the same state with
 * points_awarded 0 (the reward's biz_no is derived from task, member and
 * period, so it is earned once). */
jf_code jf_task_claim(const jf_ctx *c, const char *member_id, int64_t task_id, jf_task_state *out, jf_error *err);

/* Advance one task for an event of member m (events.c, inside its
 * transaction; dry_run: compute only).  *touched is false when the task does
 * not listen to this event. */
jf_code jf_task_advance(const jf_ctx *c, const jf_compiled_task *ct, const jf_member *m, const jf_event *ev,
                        const jf_member_facts *facts, const jf_civil *civil, bool dry_run, jf_task_state *out, bool *touched,
                        jf_error *err);

#endif
