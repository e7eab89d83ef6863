#ifndef CONCORD_CLIBPQ_SHIM_H
#define CONCORD_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
