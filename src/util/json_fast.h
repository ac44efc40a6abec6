/*
 * json_fast.h — reading a request's JSON body, the common case fast.
 *
 * jansson's reader (json_loadb) goes through a character stream with a
 * UTF-8 decoder and a token buffer: ~20,000 instructions for the 100 bytes
 * of an order.paid event, a sixth of a loop thread's work per request
 * (callgrind).  The bodies clients send are nearly always plain: objects,
 * arrays, integers, true/false/null and strings of printable ASCII without
 * escapes.  jf_json_fast reads exactly those, into the same jansson tree
 * json_loadb would build (members in order), and gives up (NULL) on
 * anything else — an escape, a byte outside printable ASCII, a real, an
 * integer of 19 digits or more, a duplicate key, more than 32 levels, any
 * error — which jf_json_load then hands to jansson, for its tree or its
 * error message.  tests/fuzz/fuzz_json.c and test_json_out check both
 * readers against each other.
 */
#ifndef JF_JSON_FAST_H
#define JF_JSON_FAST_H

#include <jansson.h>
#include <stddef.h>

/* The document buf[0..len) if it is of the plain kind above (an object or
 * an array at the top, as json_loadb wants); NULL otherwise. */
json_t *jf_json_fast(const char *buf, size_t len);

/* json_loadb(buf, len, JSON_REJECT_DUPLICATES, err), through jf_json_fast
 * when it can: err is set only when jansson read it. */
json_t *jf_json_load(const char *buf, size_t len, json_error_t *err);

#endif
