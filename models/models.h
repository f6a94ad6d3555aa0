/* Internal: rebuilding the built-in models from their hyperparameters. */
#ifndef WG_MODELS_H
#define WG_MODELS_H

#include "internal.h"

/* The key/value pairs read from an architecture string. */
typedef struct wg_hyper_view {
    const char (*keys)[32];
    const char (*svals)[64];
    const int64_t *ivals;
    const bool *is_str;
    int n;
} wg_hyper_view;

WG_INTERNAL int64_t wg_hyper_int(const wg_hyper_view *h, const char *key, int64_t fallback);
WG_INTERNAL const char *wg_hyper_str(const wg_hyper_view *h, const char *key);
/* Builds the built-in model `kind` from h; NULL with wg_last_error() set. */
WG_INTERNAL wg_model *wg_builtin_model(const char *kind, const wg_hyper_view *h, uint64_t seed);
/* The parameter count of the built-in model `kind` that h describes,
 * found without building it (a checkpoint's architecture is a claim to
 * check against the file before allocating for it); WG_EFORMAT, with the
 * message wg_builtin_model() would give, when it cannot be built. */
WG_INTERNAL wg_status wg_builtin_numel(const char *kind, const wg_hyper_view *h, int64_t *numel);
/* The same for an architecture string (as wg_model_from_json() reads it). */
WG_INTERNAL wg_status wg_model_json_numel(const char *json, int64_t *numel);
/* Records the init scheme as a hyperparameter ("default" or "xavier"). */
WG_INTERNAL wg_status wg_model_set_init(wg_model *m, wg_init init);
WG_INTERNAL wg_init wg_hyper_init(const wg_hyper_view *h);

#endif
