/* Status strings, the thread's last error, and the optional log callback. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static wg_log_fn g_log_fn;
static void *g_log_ctx;
static _Thread_local char g_last[2048];

const char *wg_strerror(wg_status s)
{
    switch (s) {
    case WG_OK: return "success";
    case WG_EINVAL: return "invalid argument";
    case WG_ESHAPE: return "shape mismatch";
    case WG_ENOMEM: return "out of memory";
    case WG_ERANGE: return "value out of range";
    case WG_ENONFINITE: return "non-finite value";
    case WG_EIO: return "input/output error";
    case WG_EFORMAT: return "bad format";
    case WG_ESTATE: return "invalid state";
    case WG_EGRAD: return "gradient check failed";
    }
    return "unknown status";
}

void wg_set_log(wg_log_fn fn, void *ctx)
{
    g_log_fn = fn;
    g_log_ctx = ctx;
}

void wg_vlog(wg_log_level level, const char *fmt, va_list ap)
{
    if (!g_log_fn)
        return;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    g_log_fn(level, buf, g_log_ctx);
}

void wg_log(wg_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wg_vlog(level, fmt, ap);
    va_end(ap);
}

wg_status wg_set_last_error(wg_status s, const char *fmt, ...)
{
    /* format into a local buffer first: callers often pass wg_last_error()
     * itself as an argument, to prefix it */
    char buf[sizeof g_last];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(g_last, buf, sizeof g_last);
    wg_log(WG_LOG_ERROR, "%s", g_last);
    return s;
}

const char *wg_last_error(void)
{
    return g_last;
}
