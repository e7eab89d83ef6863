#ifndef CONCORD_CJANSSON_SHIM_H
#define CONCORD_CJANSSON_SHIM_H
#include <jansson.h>

/* jansson's accessors below are macros, which Swift cannot call. */
static inline int concord_json_type(const json_t *json) { return (int)json_typeof(json); }
static inline void concord_json_decref(json_t *json) { json_decref(json); }
static inline size_t concord_decode_flags(void) { return JSON_DECODE_ANY | JSON_ALLOW_NUL; }
#endif
