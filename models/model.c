/* The model object: parameters, a forward function, a generator, and the
 * hyperparameters that rebuild it, written as a flat JSON object. */
#include "internal.h"
#include "models.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WG_MAX_HYPER 16

typedef struct {
    char key[32];
    bool is_str;
    int64_t i;
    char *s;
} hyper;

struct wg_model {
    char *kind;
    wg_params *params;
    wg_rng rng;
    wg_forward_fn forward;
    void *state;
    void (*free_state)(void *);
    hyper hp[WG_MAX_HYPER];
    int n_hp;
    char *json;
    bool evaluating; /* false: training mode, the default */
};

wg_model *wg_model_new(const char *kind, wg_forward_fn forward, void *state,
                       void (*free_state)(void *), uint64_t seed)
{
    if (!kind || !*kind || !forward) {
        wg_set_last_error(WG_EINVAL, "model_new: kind and forward function are required");
        return NULL;
    }
    wg_model *m = wg_calloc(1, sizeof *m);
    if (!m || !(m->kind = wg_strdup(kind)) || !(m->params = wg_params_new())) {
        if (m)
            wg_free(m->kind);
        wg_free(m);
        wg_set_last_error(WG_ENOMEM, "model_new: out of memory");
        return NULL;
    }
    m->rng = wg_rng_seed(seed);
    m->forward = forward;
    m->state = state;
    m->free_state = free_state;
    return m;
}

void wg_model_free(wg_model *m)
{
    if (!m)
        return;
    if (m->free_state)
        m->free_state(m->state);
    for (int i = 0; i < m->n_hp; i++)
        wg_free(m->hp[i].s);
    wg_params_free(m->params);
    wg_free(m->kind);
    wg_free(m->json);
    wg_free(m);
}

wg_params *wg_model_params(const wg_model *m)
{
    return m ? m->params : NULL;
}

wg_rng *wg_model_rng(wg_model *m)
{
    return m ? &m->rng : NULL;
}

const char *wg_model_kind(const wg_model *m)
{
    return m ? m->kind : NULL;
}

static hyper *find_hp(const wg_model *m, const char *key)
{
    for (int i = 0; m && key && i < m->n_hp; i++)
        if (strcmp(m->hp[i].key, key) == 0)
            return (hyper *)&m->hp[i];
    return NULL;
}

static hyper *slot(wg_model *m, const char *key)
{
    if (!m || !key || !*key || strlen(key) >= sizeof m->hp[0].key)
        return NULL;
    hyper *h = find_hp(m, key);
    if (h)
        return h;
    if (m->n_hp == WG_MAX_HYPER)
        return NULL;
    h = &m->hp[m->n_hp++];
    memset(h, 0, sizeof *h);
    snprintf(h->key, sizeof h->key, "%s", key);
    return h;
}

wg_status wg_model_set_int(wg_model *m, const char *key, int64_t value)
{
    hyper *h = slot(m, key);
    if (!h)
        return wg_set_last_error(WG_EINVAL, "model_set_int: bad key or too many hyperparameters");
    wg_free(h->s);
    h->s = NULL;
    h->is_str = false;
    h->i = value;
    return WG_OK;
}

wg_status wg_model_set_str(wg_model *m, const char *key, const char *value)
{
    if (!value)
        return wg_set_last_error(WG_EINVAL, "model_set_str: NULL value");
    for (const char *c = value; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return wg_set_last_error(WG_EINVAL, "model_set_str: the value of %s needs JSON "
                                     "escaping", key ? key : "(null)");
    char *copy = wg_strdup(value);
    if (!copy)
        return wg_set_last_error(WG_ENOMEM, "model_set_str: out of memory storing %s",
                                 key ? key : "(null)");
    hyper *h = slot(m, key);
    if (!h) {
        wg_free(copy);
        return wg_set_last_error(WG_EINVAL, "model_set_str: bad key %s or too many "
                                 "hyperparameters", key ? key : "(null)");
    }
    wg_free(h->s);
    h->s = copy;
    h->is_str = true;
    return WG_OK;
}

int64_t wg_model_get_int(const wg_model *m, const char *key, int64_t fallback)
{
    const hyper *h = find_hp(m, key);
    return h && !h->is_str ? h->i : fallback;
}

const char *wg_model_get_str(const wg_model *m, const char *key)
{
    const hyper *h = find_hp(m, key);
    return h && h->is_str ? h->s : NULL;
}

const char *wg_model_arch_json(wg_model *m)
{
    if (!m)
        return NULL;
    size_t cap = 64 + strlen(m->kind);
    for (int i = 0; i < m->n_hp; i++)
        cap += 48 + (m->hp[i].is_str ? strlen(m->hp[i].s) : 24);
    char *s = wg_malloc(cap);
    if (!s)
        return NULL;
    size_t o = (size_t)snprintf(s, cap, "{\"kind\":\"%s\"", m->kind);
    for (int i = 0; i < m->n_hp; i++) {
        const hyper *h = &m->hp[i];
        if (h->is_str)
            o += (size_t)snprintf(s + o, cap - o, ",\"%s\":\"%s\"", h->key, h->s);
        else
            o += (size_t)snprintf(s + o, cap - o, ",\"%s\":%" PRId64, h->key, h->i);
    }
    snprintf(s + o, cap - o, "}");
    wg_free(m->json);
    m->json = s;
    return s;
}

void wg_model_set_training(wg_model *m, bool training)
{
    if (m)
        m->evaluating = !training;
}

bool wg_model_training(const wg_model *m)
{
    return m && !m->evaluating;
}

wg_tensor *wg_model_forward(wg_model *m, wg_tape *t, wg_tensor *x)
{
    if (!m)
        return wg_fail(t, WG_EINVAL, "model_forward", "NULL model");
    return m->forward(m, t, x, m->state);
}

/* --- rebuilding from JSON ---------------------------------------------------
 * The architecture string is a flat object of string and integer values;
 * this reader accepts exactly that and says where anything else starts. */

typedef struct {
    const char *p;
    char err[128];
} reader;

static void skip_ws(reader *r)
{
    while (isspace((unsigned char)*r->p))
        r->p++;
}

static bool read_string(reader *r, char *out, size_t cap)
{
    skip_ws(r);
    if (*r->p != '"')
        return false;
    r->p++;
    size_t n = 0;
    while (*r->p && *r->p != '"') {
        if (*r->p == '\\' || n + 1 >= cap)
            return false;
        out[n++] = *r->p++;
    }
    if (*r->p != '"')
        return false;
    r->p++;
    out[n] = 0;
    return true;
}

/* An architecture string read into key/value pairs. */
typedef struct {
    char keys[WG_MAX_HYPER + 1][32], svals[WG_MAX_HYPER + 1][64];
    int64_t ivals[WG_MAX_HYPER + 1];
    bool is_str[WG_MAX_HYPER + 1];
    const char *kind;
    wg_hyper_view h;
} arch_text;

static wg_status parse_arch(const char *json, arch_text *a)
{
    if (!json)
        return wg_set_last_error(WG_EINVAL, "model_from_json: NULL text");
    reader r = { json, { 0 } };
    int n = 0;
    skip_ws(&r);
    if (*r.p++ != '{')
        goto bad;
    skip_ws(&r);
    if (*r.p == '}')
        goto bad;
    for (;;) {
        if (n > WG_MAX_HYPER || !read_string(&r, a->keys[n], sizeof a->keys[n]))
            goto bad;
        skip_ws(&r);
        if (*r.p++ != ':')
            goto bad;
        skip_ws(&r);
        if (*r.p == '"') {
            if (!read_string(&r, a->svals[n], sizeof a->svals[n]))
                goto bad;
            a->is_str[n] = true;
        } else {
            char *end;
            long long v = strtoll(r.p, &end, 10);
            if (end == r.p || *end == '.' || *end == 'e' || *end == 'E')
                goto bad;
            r.p = end;
            a->ivals[n] = v;
            a->is_str[n] = false;
        }
        n++;
        skip_ws(&r);
        if (*r.p == ',') {
            r.p++;
            continue;
        }
        if (*r.p++ != '}')
            goto bad;
        skip_ws(&r);
        if (*r.p)
            goto bad;
        break;
    }
    a->kind = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(a->keys[i], "kind") == 0 && a->is_str[i])
            a->kind = a->svals[i];
    if (!a->kind)
        return wg_set_last_error(WG_EFORMAT, "model_from_json: no \"kind\" in %s", json);
    a->h = (wg_hyper_view){ a->keys, a->svals, a->ivals, a->is_str, n };
    return WG_OK;
bad:
    return wg_set_last_error(WG_EFORMAT, "model_from_json: not a flat JSON object of strings "
                             "and integers, at offset %td of %s", r.p - json, json);
}

wg_model *wg_model_from_json(const char *json, uint64_t seed)
{
    arch_text a;
    return parse_arch(json, &a) == WG_OK ? wg_builtin_model(a.kind, &a.h, seed) : NULL;
}

wg_status wg_model_json_numel(const char *json, int64_t *numel)
{
    arch_text a;
    wg_status s = parse_arch(json, &a);
    return s == WG_OK ? wg_builtin_numel(a.kind, &a.h, numel) : s;
}
