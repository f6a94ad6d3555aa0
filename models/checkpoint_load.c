/* Loading a checkpoint: verify the CRC, then read and validate everything
 * (format, version, names, shapes, finite values, optimizer kind) into
 * scratch memory, and only then copy it into the model, the optimizer and
 * the training state, so a failed load changes nothing. */
#include "checkpoint.h"
#include "../optim/optim.h"
#include "models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_FILE_PARAMS 4096

typedef struct {
    char names[MAX_FILE_PARAMS][128];
    int n;
    bool overflow;
} name_list;

/* collects every dataset below /model as a dotted name */
static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    name_list *l = data;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return 0; /* a group */
    H5Dclose(d);
    if (l->n == MAX_FILE_PARAMS || strlen(name) >= sizeof l->names[0]) {
        l->overflow = true;
        return 1;
    }
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    for (char *p = l->names[l->n]; *p; p++)
        if (*p == '/')
            *p = '.';
    l->n++;
    return 0;
}

static void add_detail(wg_load_report *r, const char *kind, const char *text)
{
    size_t o = strlen(r->detail);
    const char *sep = o ? "; " : "";
    /* group by kind: "missing: a, b; unexpected: c" */
    char key[32];
    snprintf(key, sizeof key, "%s: ", kind);
    if (strstr(r->detail, key))
        snprintf(r->detail + o, sizeof r->detail - o, ", %s", text);
    else
        snprintf(r->detail + o, sizeof r->detail - o, "%s%s%s", sep, key, text);
}

static bool all_finite(const wg_real *v, int64_t n, int64_t *bad)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((double)v[i])) {
            *bad = i;
            return false;
        }
    return true;
}

typedef struct {
    const char *path;
    wg_model *m;
    wg_optim *opt;
    wg_train_state *ts;
    bool strict;
    wg_load_report *rep;
    /* scratch */
    wg_real *values, *s1, *s2;
    bool *present, *has_state;
    int64_t *param_steps;
    name_list *files;
    wg_train_state new_ts;
    double lr;
    int64_t steps;
} load_job;

static wg_status fail(load_job *j, wg_status s, const char *fmt, const char *a, const char *b)
{
    char msg[3072];
    snprintf(msg, sizeof msg, fmt, a, b);
    return wg_set_last_error(s, "checkpoint_load: %s: %s", j->path, msg);
}

static wg_status check_header(load_job *j, hid_t f)
{
    char fmt[64] = "", dtype[32] = "";
    int64_t ver = -1;
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (root < 0)
        return fail(j, WG_EFORMAT, "cannot open the root group%s%s", "", "");
    herr_t r1 = wg_h5_read_str(root, "format", fmt, sizeof fmt);
    herr_t r2 = wg_h5_read_i64(root, "format_version", &ver);
    herr_t r3 = wg_h5_read_str(root, "dtype", dtype, sizeof dtype);
    char arch[1024] = "";
    wg_h5_read_str(root, "architecture", arch, sizeof arch);
    H5Gclose(root);
    if (r1 < 0 || strcmp(fmt, WG_CKPT_FORMAT) != 0)
        return fail(j, WG_EFORMAT, "not a wengert checkpoint (format attribute \"%s\")%s", fmt,
                    "");
    if (r2 < 0 || ver < 1)
        return fail(j, WG_EFORMAT, "missing or bad format_version%s%s", "", "");
    if (ver > WG_CKPT_VERSION) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)ver);
        return fail(j, WG_EFORMAT, "format version %s is newer than this library reads (%s)", v,
                    "1");
    }
    if (r3 < 0 || (strcmp(dtype, "float32") != 0 && strcmp(dtype, "float64") != 0))
        return fail(j, WG_EFORMAT, "dtype \"%s\" is not float32 or float64%s", dtype, "");
    if (j->strict && j->m && *arch) {
        /* name the architectures when the kinds differ: a clearer message
         * than a list of missing names */
        const char *k = strstr(arch, "\"kind\":\"");
        const char *mine = wg_model_kind(j->m);
        if (k && (strncmp(k + 8, mine, strlen(mine)) != 0 || k[8 + strlen(mine)] != '"'))
            return fail(j, WG_EFORMAT, "checkpoint of another architecture: %s, the model is %s",
                        arch, mine);
    }
    return WG_OK;
}

static wg_status read_model(load_job *j, hid_t f)
{
    wg_params *p = wg_model_params(j->m);
    wg_load_report *rep = j->rep;
    if (H5Lexists(f, "/model", H5P_DEFAULT) <= 0)
        return fail(j, WG_EFORMAT, "no /model group%s%s", "", "");
    hid_t g = H5Gopen2(f, "/model", H5P_DEFAULT);
    if (g < 0 || H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, visit_cb, j->files) < 0 ||
        j->files->overflow) {
        if (g >= 0)
            H5Gclose(g);
        return fail(j, WG_EFORMAT, "cannot list /model%s%s", "", "");
    }
    H5Gclose(g);
    int64_t off = 0;
    for (int i = 0; i < wg_params_count(p); i++) {
        wg_tensor *t = wg_params_at(p, i);
        char path[512], text[512];
        wg_shape have;
        if (!wg_ckpt_h5_path("/model", wg_name(t), NULL, path, sizeof path) ||
            wg_h5_shape(f, path, &have) < 0) {
            rep->missing++;
            add_detail(rep, "missing", wg_name(t));
        } else if (!wg_shape_eq(&have, &t->shape)) {
            char a[96], b[96];
            rep->mismatched++;
            snprintf(text, sizeof text, "%s %s in the file vs %s", wg_name(t),
                     wg_shape_str(have, a, sizeof a), wg_shape_str(t->shape, b, sizeof b));
            add_detail(rep, "mismatched", text);
        } else if (wg_h5_read_real(f, path, j->values + off, &t->shape) < 0) {
            return fail(j, WG_EFORMAT, "cannot read %s (checksum or data error)%s", wg_name(t),
                        "");
        } else {
            int64_t bad;
            if (!all_finite(j->values + off, wg_numel(t), &bad)) {
                snprintf(text, sizeof text, "%s[%lld] is %g", wg_name(t), (long long)bad,
                         (double)j->values[off + bad]);
                return fail(j, WG_ENONFINITE, "%s: parameters must be finite%s", text, "");
            }
            j->present[i] = true;
            rep->loaded++;
        }
        off += wg_numel(t);
    }
    for (int k = 0; k < j->files->n; k++)
        if (!wg_params_find(p, j->files->names[k])) {
            rep->unexpected++;
            add_detail(rep, "unexpected", j->files->names[k]);
        }
    if (j->strict && (rep->missing || rep->unexpected || rep->mismatched))
        return fail(j, WG_EFORMAT, "names or shapes differ from the model (%s)%s", rep->detail,
                    "");
    if (rep->loaded == 0 && wg_params_count(p) > 0)
        return fail(j, WG_EFORMAT, "no parameter matches the model (%s)%s", rep->detail, "");
    return WG_OK;
}

static wg_status read_optim(load_job *j, hid_t f)
{
    wg_optim *o = j->opt;
    if (H5Lexists(f, "/optimizer", H5P_DEFAULT) <= 0)
        return fail(j, WG_EFORMAT, "no optimizer state to resume from%s%s", "", "");
    hid_t g = H5Gopen2(f, "/optimizer", H5P_DEFAULT);
    char type[32] = "";
    herr_t r = g < 0 ? -1 : wg_h5_read_str(g, "type", type, sizeof type);
    if (r >= 0)
        r = wg_h5_read_f64(g, "lr", &j->lr);
    if (r >= 0)
        r = wg_h5_read_i64(g, "step", &j->steps);
    if (g >= 0)
        H5Gclose(g);
    if (r < 0)
        return fail(j, WG_EFORMAT, "optimizer attributes missing%s%s", "", "");
    if (strcmp(type, wg_optim_kind(o)) != 0)
        return fail(j, WG_EFORMAT, "optimizer state is for %s, the optimizer is %s", type,
                    wg_optim_kind(o));
    if (!(j->lr >= 0) || j->steps < 0)
        return fail(j, WG_EFORMAT, "bad optimizer lr or step%s%s", "", "");
    const bool sgd = o->kind == WG_OPT_SGD;
    wg_params *p = o->params;
    int64_t off = 0;
    for (int i = 0; i < wg_params_count(p); i++) {
        wg_tensor *t = wg_params_at(p, i);
        char path[512];
        if (wg_ckpt_h5_path("/optimizer/state", wg_name(t), sgd ? "momentum_buffer" : "exp_avg",
                            path, sizeof path) &&
            H5Lexists(f, "/optimizer/state", H5P_DEFAULT) > 0 && j->present[i]) {
            wg_shape have;
            if (wg_h5_shape(f, path, &have) >= 0) {
                int64_t bad;
                if (!o->state1 || wg_h5_read_real(f, path, j->s1 + off, &t->shape) < 0 ||
                    !all_finite(j->s1 + off, wg_numel(t), &bad))
                    return fail(j, WG_EFORMAT, "optimizer state of %s is unreadable, non-finite "
                                "or does not fit this optimizer%s", wg_name(t), "");
                if (o->state2 &&
                    (!wg_ckpt_h5_path("/optimizer/state", wg_name(t), "exp_avg_sq", path,
                                      sizeof path) ||
                     wg_h5_read_real(f, path, j->s2 + off, &t->shape) < 0 ||
                     !all_finite(j->s2 + off, wg_numel(t), &bad)))
                    return fail(j, WG_EFORMAT, "optimizer state exp_avg_sq of %s is unreadable "
                                "or non-finite%s", wg_name(t), "");
                j->has_state[i] = true;
                char gpath[512];
                int64_t st = j->steps;
                if (wg_ckpt_h5_path("/optimizer/state", wg_name(t), NULL, gpath, sizeof gpath)) {
                    hid_t pg = H5Gopen2(f, gpath, H5P_DEFAULT);
                    if (pg >= 0) {
                        if (wg_h5_read_i64(pg, "step", &st) < 0 || st < 0)
                            st = j->steps;
                        H5Gclose(pg);
                    }
                }
                j->param_steps[i] = st;
            }
        }
        off += wg_numel(t);
    }
    return WG_OK;
}

static wg_status read_training(load_job *j, hid_t f)
{
    if (H5Lexists(f, "/training", H5P_DEFAULT) <= 0)
        return fail(j, WG_EFORMAT, "no training state to resume from%s%s", "", "");
    hid_t g = H5Gopen2(f, "/training", H5P_DEFAULT);
    wg_train_state *s = &j->new_ts;
    herr_t r = g < 0 ? -1 : 0;
    if (r >= 0)
        r = wg_h5_read_i64(g, "epoch", &s->epoch) | wg_h5_read_i64(g, "global_step", &s->global_step) |
            wg_h5_read_i64(g, "position", &s->position) |
            wg_h5_read_u64s(g, "data_seed", &s->data_seed, 1) |
            wg_h5_read_u64s(g, "rng_state", s->rng.s, 4) | wg_h5_read_f64(g, "base_lr", &s->base_lr) |
            wg_h5_read_i64(g, "best_epoch", &s->best_epoch) |
            wg_h5_read_f64(g, "best_val_loss", &s->best_val_loss);
    if (g >= 0)
        H5Gclose(g);
    if (r < 0 || s->epoch < 0 || s->global_step < 0 || s->position < 0)
        return fail(j, WG_EFORMAT, "training state attributes missing or negative%s%s", "", "");
    return WG_OK;
}

static wg_status load_file(load_job *j)
{
    hid_t f = H5Fopen(j->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return fail(j, WG_EFORMAT, "libhdf5 cannot open it as HDF5%s%s", "", "");
    wg_status s = check_header(j, f);
    if (s == WG_OK && j->m)
        s = read_model(j, f);
    if (s == WG_OK && j->opt)
        s = read_optim(j, f);
    if (s == WG_OK && j->ts)
        s = read_training(j, f);
    H5Fclose(f);
    return s;
}

static void apply(load_job *j)
{
    wg_params *p = wg_model_params(j->m);
    int64_t off = 0;
    for (int i = 0; i < wg_params_count(p); i++) {
        wg_tensor *t = wg_params_at(p, i);
        size_t bytes = (size_t)wg_numel(t) * sizeof(wg_real);
        if (j->present[i])
            memcpy(wg_data(t), j->values + off, bytes);
        if (j->opt) {
            wg_optim *o = j->opt;
            o->has_state[i] = j->has_state[i];
            o->param_steps[i] = j->has_state[i] ? j->param_steps[i] : 0;
            if (o->state1)
                memcpy(o->state1 + off, j->s1 + off, bytes); /* zero where absent */
            if (o->state2)
                memcpy(o->state2 + off, j->s2 + off, bytes);
        }
        off += wg_numel(t);
    }
    if (j->opt) {
        j->opt->lr = j->lr;
        j->opt->steps = j->steps;
    }
    if (j->ts) {
        *j->ts = j->new_ts;
        *wg_model_rng(j->m) = j->new_ts.rng; /* the model's generator resumes too */
    }
}

wg_status wg_checkpoint_load(const char *path, wg_model *m, wg_optim *opt, wg_train_state *ts,
                             bool strict, wg_load_report *report)
{
    wg_load_report local;
    wg_load_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    if (!path || !m)
        return wg_set_last_error(WG_EINVAL, "checkpoint_load: NULL path or model");
    if (opt && opt->params != wg_model_params(m))
        return wg_set_last_error(WG_EINVAL, "checkpoint_load: %s: the optimizer is not the "
                                 "model's", path);
    if (opt && wg_params_numel(opt->params) != opt->numel)
        return wg_set_last_error(WG_ESTATE, "checkpoint_load: %s: the store grew after the "
                                 "optimizer was made", path);
    bool sealed;
    wg_status s = wg_ckpt_verify(path, &sealed);
    if (s != WG_OK)
        return wg_set_last_error(s, "checkpoint_load: %s", wg_last_error());

    wg_params *p = wg_model_params(m);
    size_t n = (size_t)wg_params_numel(p) + 1, count = (size_t)wg_params_count(p) + 1;
    load_job j = { .path = path, .m = m, .opt = opt, .ts = ts, .strict = strict, .rep = rep };
    j.values = wg_malloc(n * sizeof(wg_real));
    j.s1 = opt ? wg_calloc(n, sizeof(wg_real)) : NULL;
    j.s2 = opt ? wg_calloc(n, sizeof(wg_real)) : NULL;
    j.present = wg_calloc(count, sizeof(bool));
    j.has_state = wg_calloc(count, sizeof(bool));
    j.param_steps = wg_calloc(count, sizeof(int64_t));
    j.files = wg_calloc(1, sizeof *j.files);
    if (!j.values || (opt && (!j.s1 || !j.s2)) || !j.present || !j.has_state || !j.param_steps ||
        !j.files) {
        s = wg_set_last_error(WG_ENOMEM, "checkpoint_load: %s: out of memory", path);
    } else {
        H5E_BEGIN_TRY
        {
            s = load_file(&j);
        }
        H5E_END_TRY;
        if (s == WG_OK)
            apply(&j);
    }
    wg_free(j.values);
    wg_free(j.s1);
    wg_free(j.s2);
    wg_free(j.present);
    wg_free(j.has_state);
    wg_free(j.param_steps);
    wg_free(j.files);
    return s;
}

/* The message of the call that just failed as checkpoint_load_model's:
 * its own "name: " prefix replaced, and the path added unless the message
 * names it already. */
static void as_load_model_error(const char *path)
{
    const char *msg = wg_last_error(), *colon = strstr(msg, ": ");
    const char *rest = colon ? colon + 2 : msg;
    if (!path || strncmp(rest, path, strlen(path)) == 0)
        wg_set_last_error(WG_EFORMAT, "checkpoint_load_model: %s", rest);
    else
        wg_set_last_error(WG_EFORMAT, "checkpoint_load_model: %s: %s", path, rest);
}

/* adds up how many values the float data sets below /model can decode to */
static herr_t capacity_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    uint64_t *values = data;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return 0; /* a group */
    hid_t t = H5Dget_type(d);
    size_t size = t >= 0 && H5Tget_class(t) == H5T_FLOAT ? H5Tget_size(t) : 0;
    if (size > 0) {
        hid_t f = H5Iget_file_id(d);
        *values += wg_h5_decoded_max(f, d) / size;
        H5Fclose(f);
    }
    if (t >= 0)
        H5Tclose(t);
    H5Dclose(d);
    return 0;
}

/* The most parameter values the file's /model can hold; 0 if unreadable. */
static uint64_t file_capacity(const char *path)
{
    uint64_t values = 0;
    H5E_BEGIN_TRY
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t g = f < 0 ? -1 : H5Gopen2(f, "/model", H5P_DEFAULT);
        if (g < 0 || H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, capacity_cb, &values) < 0)
            values = 0;
        if (g >= 0)
            H5Gclose(g);
        if (f >= 0)
            H5Fclose(f);
    }
    H5E_END_TRY;
    return values;
}

wg_model *wg_checkpoint_load_model(const char *path)
{
    char arch[1024];
    if (wg_checkpoint_inspect(path, NULL, NULL, arch, sizeof arch) != WG_OK) {
        as_load_model_error(path);
        return NULL;
    }
    /* the architecture is a claim: a few kilobytes of file must not make
     * us allocate gigabytes for a model they cannot fill */
    int64_t need;
    if (wg_model_json_numel(arch, &need) != WG_OK) {
        as_load_model_error(path);
        return NULL;
    }
    uint64_t have = file_capacity(path);
    if ((uint64_t)need > have) {
        wg_set_last_error(WG_EFORMAT, "checkpoint_load_model: %s: the architecture %s has %lld "
                          "parameters; the file's /model holds at most %llu values",
                          path, arch, (long long)need, (unsigned long long)have);
        return NULL;
    }
    wg_model *m = wg_model_from_json(arch, 0);
    if (!m) {
        as_load_model_error(path);
        return NULL;
    }
    if (wg_checkpoint_load(path, m, NULL, NULL, true, NULL) != WG_OK) {
        wg_model_free(m);
        return NULL;
    }
    return m;
}

typedef struct {
    void (*fn)(const char *, wg_shape, void *);
    void *ctx;
} inspect_job;

static wg_status inspect_file(const char *path, inspect_job *ij, char *arch, size_t cap,
                              name_list *l)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return wg_set_last_error(WG_EFORMAT, "checkpoint_inspect: %s: not readable as HDF5", path);
    wg_status s = WG_OK;
    char fmt[64] = "";
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (root < 0 || wg_h5_read_str(root, "format", fmt, sizeof fmt) < 0 ||
        strcmp(fmt, WG_CKPT_FORMAT) != 0)
        s = wg_set_last_error(WG_EFORMAT, "checkpoint_inspect: %s: not a wengert checkpoint",
                              path);
    if (s == WG_OK && arch && cap && wg_h5_read_str(root, "architecture", arch, cap) < 0)
        s = wg_set_last_error(WG_EFORMAT, "checkpoint_inspect: %s: no architecture attribute",
                              path);
    if (root >= 0)
        H5Gclose(root);
    hid_t g = s == WG_OK ? H5Gopen2(f, "/model", H5P_DEFAULT) : -1;
    if (s == WG_OK && (g < 0 || H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, visit_cb, l) < 0))
        s = wg_set_last_error(WG_EFORMAT, "checkpoint_inspect: %s: cannot list /model", path);
    if (s == WG_OK && ij->fn) {
        /* in state_dict order when the file records it */
        hid_t ga = g;
        hid_t a = H5Aexists(ga, "state_dict_order") > 0 ? H5Aopen(ga, "state_dict_order", H5P_DEFAULT) : -1;
        int listed = 0;
        if (a >= 0) {
            hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
            size_t w = H5Tget_size(t);
            hssize_t cnt = H5Sget_simple_extent_npoints(sp);
            if (H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && cnt > 0 &&
                cnt < MAX_FILE_PARAMS && w > 0 && w < 256) {
                char *buf = wg_calloc((size_t)cnt, w + 1);
                hid_t mt = H5Tcopy(t);
                if (buf && H5Aread(a, mt, buf) >= 0) {
                    for (hssize_t i = 0; i < cnt; i++) {
                        char name[257], p2[512];
                        memcpy(name, buf + (size_t)i * w, w);
                        name[w] = 0;
                        wg_shape sh;
                        if (wg_ckpt_h5_path("/model", name, NULL, p2, sizeof p2) &&
                            wg_h5_shape(f, p2, &sh) >= 0) {
                            ij->fn(name, sh, ij->ctx);
                            listed++;
                        }
                    }
                }
                H5Tclose(mt);
                wg_free(buf);
            }
            H5Tclose(t);
            H5Sclose(sp);
            H5Aclose(a);
        }
        for (int i = 0; !listed && i < l->n; i++) {
            char p2[512];
            wg_shape sh;
            if (wg_ckpt_h5_path("/model", l->names[i], NULL, p2, sizeof p2) &&
                wg_h5_shape(f, p2, &sh) >= 0)
                ij->fn(l->names[i], sh, ij->ctx);
        }
    }
    if (g >= 0)
        H5Gclose(g);
    H5Fclose(f);
    return s;
}

wg_status wg_checkpoint_inspect(const char *path, void (*fn)(const char *, wg_shape, void *),
                                void *ctx, char *arch, size_t cap)
{
    if (!path)
        return wg_set_last_error(WG_EINVAL, "checkpoint_inspect: NULL path");
    bool sealed;
    wg_status s = wg_ckpt_verify(path, &sealed);
    if (s != WG_OK)
        return wg_set_last_error(s, "checkpoint_inspect: %s", wg_last_error());
    name_list *l = wg_calloc(1, sizeof *l);
    if (!l)
        return wg_set_last_error(WG_ENOMEM, "checkpoint_inspect: out of memory");
    inspect_job ij = { fn, ctx };
    H5E_BEGIN_TRY
    {
        s = inspect_file(path, &ij, arch, cap, l);
    }
    H5E_END_TRY;
    wg_free(l);
    return s;
}
