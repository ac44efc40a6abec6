/*
 * openapi.c — embeds docs/openapi.json (see openapi.h).
 *
 * The assembler's .incbin copies the file into .rodata; the Makefile makes
 * this object depend on the JSON so that editing the document rebuilds it.
 * The path is relative to the repository root, where make runs.
 */
#include "http/openapi.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        "jf_openapi_start:\n"
        ".incbin \"docs/openapi.json\"\n"
        "jf_openapi_end:\n"
        ".byte 0\n"
        ".previous\n");

const char *jf_openapi_document(size_t *len) {
    extern const char jf_openapi_start[] __asm__("jf_openapi_start");
    extern const char jf_openapi_end[] __asm__("jf_openapi_end");
    *len = (size_t)(jf_openapi_end - jf_openapi_start);
    return jf_openapi_start;
}
