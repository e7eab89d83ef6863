#ifndef CONCORD_CHIREDIS_SHIM_H
#define CONCORD_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>

/* Reply type codes as plain functions (the header defines them as macros). */
static inline int concord_redis_reply_string(void) { return REDIS_REPLY_STRING; }
static inline int concord_redis_reply_array(void) { return REDIS_REPLY_ARRAY; }
static inline int concord_redis_reply_integer(void) { return REDIS_REPLY_INTEGER; }
static inline int concord_redis_reply_nil(void) { return REDIS_REPLY_NIL; }
static inline int concord_redis_reply_status(void) { return REDIS_REPLY_STATUS; }
static inline int concord_redis_reply_error(void) { return REDIS_REPLY_ERROR; }
static inline int concord_redis_ok(void) { return REDIS_OK; }
#endif
