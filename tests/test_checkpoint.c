/* Checkpoints: round trips, bitwise resume of training (in a fresh
 * process too), every way a load can fail (each leaving the model, the
 * optimizer and the training state exactly as they were), non-strict
 * loads for fine-tuning, and every way a save can fail (each leaving the
 * previous checkpoint intact and no temporary file behind).
 *
 * Only the public API is used; the optimizer's state is compared through
 * what a checkpoint of it holds (read back with the HDF5 C API), and by
 * training on after a failed load next to an untouched twin. */
#define _GNU_SOURCE
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include <wengert.h>

#ifdef WG_DOUBLE
#define H5_REAL H5T_NATIVE_DOUBLE
#else
#define H5_REAL H5T_NATIVE_FLOAT
#endif

static char g_dir[1024]; /* the test's temporary directory */

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static const char *in_dir(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", g_dir, name);
    return buf;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && len > 0 && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        *n = (size_t)(len > 0 ? len : 0);
    return b;
}

static bool write_all(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(b, 1, n, f) == n;
    return (fclose(f) == 0) && ok;
}

static bool copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = read_all(from, &n);
    bool ok = b && write_all(to, b, n);
    free(b);
    return ok;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Writes the CRC header the format documents ("WGCKPT\r\n", u32 1, u32
 * crc32 of the bytes after the 512-byte user block, u64 their count), so a
 * file changed behind the library's back reaches libhdf5. */
static bool reseal(const char *path)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    if (!b || n < 512) {
        free(b);
        return false;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, b + 512, (uInt)(n - 512));
    memcpy(b, "WGCKPT\r\n", 8);
    put_le(b + 8, 1, 4);
    put_le(b + 12, crc, 4);
    put_le(b + 16, n - 512, 8);
    bool ok = write_all(path, b, n);
    free(b);
    return ok;
}

static bool flip_byte(const char *path, size_t off, unsigned char mask)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    bool ok = b && off < n;
    if (ok) {
        b[off] ^= mask;
        ok = write_all(path, b, n);
    }
    free(b);
    return ok;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Entries of `dir` whose name contains ".tmp-" (a save's temporary files). */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp-"))
            n++;
    closedir(d);
    return n;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char sub[2048];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* true if msg contains one of the '|'-separated needles (any case) */
static bool has_any(const char *msg, const char *needles)
{
    if (!needles)
        return true;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", needles);
    for (char *save = NULL, *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
        if (strcasestr(msg, tok))
            return true;
    return false;
}

static size_t values_bytes(wg_model *m)
{
    return (size_t)wg_params_numel(wg_model_params(m)) * sizeof(wg_real);
}

static wg_real *values_copy(wg_model *m)
{
    size_t nb = values_bytes(m);
    wg_real *c = malloc(nb ? nb : 1);
    memcpy(c, wg_params_values(wg_model_params(m)), nb);
    return c;
}

static bool values_equal(wg_model *m, const wg_real *ref)
{
    return memcmp(wg_params_values(wg_model_params(m)), ref, values_bytes(m)) == 0;
}

static bool all_finite(wg_model *m)
{
    wg_params *P = wg_model_params(m);
    const wg_real *v = wg_params_values(P);
    for (int64_t i = 0; i < wg_params_numel(P); i++)
        if (!isfinite((double)v[i]))
            return false;
    return true;
}

/* "conv1.weight" -> "<root>/conv1/weight[/leaf]" */
static void h5_name(const char *root, const char *name, const char *leaf, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s%s%s", root, name, leaf ? "/" : "", leaf ? leaf : "");
    for (char *p = out + strlen(root) + 1; *p; p++)
        if (*p == '.')
            *p = '/';
}

static bool h5_exists(hid_t f, const char *path)
{
    /* check each level: H5Lexists fails on a missing intermediate group */
    char part[512];
    const char *p = path + 1;
    while (1) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        snprintf(part, sizeof part, "%.*s", (int)len, path);
        if (H5Lexists(f, part, H5P_DEFAULT) <= 0)
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

/* ------------------------------------------------------------------------ */
/* the optimizer's state, as bytes: what a checkpoint of it records         */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void bytes_add(bytes *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static bool bytes_eq(const bytes *a, const bytes *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

static bytes optim_fingerprint(wg_model *m, wg_optim *o)
{
    bytes b = { 0 };
    int64_t steps = wg_optim_steps(o);
    double lr = wg_optim_lr(o);
    bytes_add(&b, &steps, sizeof steps);
    bytes_add(&b, &lr, sizeof lr);
    bytes_add(&b, wg_optim_kind(o), strlen(wg_optim_kind(o)) + 1);
    char path[1100];
    in_dir("fingerprint.h5", path, sizeof path);
    wg_status s = wg_checkpoint_save(path, m, o, NULL);
    CHECK(s == WG_OK, "fingerprint save: %s", wg_last_error());
    hid_t f = s == WG_OK ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    CHECK(s != WG_OK || f >= 0, "fingerprint: reopen");
    if (f < 0)
        return b;
    wg_params *P = wg_model_params(m);
    static const char *const leaves[] = { "momentum_buffer", "exp_avg", "exp_avg_sq" };
    for (int i = 0; i < wg_params_count(P); i++) {
        wg_tensor *t = wg_params_at(P, i);
        size_t nb = (size_t)wg_numel(t) * sizeof(wg_real);
        wg_real *buf = malloc(nb);
        for (int k = 0; k < 3; k++) {
            char h[512];
            h5_name("/optimizer/state", wg_name(t), leaves[k], h, sizeof h);
            unsigned char present = h5_exists(f, h);
            bytes_add(&b, &present, 1);
            if (present) {
                hid_t d = H5Dopen2(f, h, H5P_DEFAULT);
                CHECK(H5Dread(d, H5_REAL, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, "read %s", h);
                H5Dclose(d);
                bytes_add(&b, buf, nb);
            }
        }
        free(buf);
    }
    H5Fclose(f);
    unlink(path);
    return b;
}

/* ------------------------------------------------------------------------ */
/* a small training run that a checkpoint must resume bitwise               */

/* 44 images of 1 x 4 x 5 pixels in 4 classes, batches of 8: the last
 * batch of each epoch has 4 */
enum { NS = 44, IN = 20, HID = 16, OUT = 4, BATCH = 8 };

typedef struct {
    uint8_t images[NS * IN];
    int32_t labels[NS];
    wg_dataset d; /* over the arrays above, owned = false */
} synth;

static void synth_make(synth *s)
{
    wg_rng r = wg_rng_seed(3);
    for (int i = 0; i < NS * IN; i++)
        s->images[i] = (uint8_t)wg_rng_below(&r, 256);
    for (int i = 0; i < NS; i++)
        s->labels[i] = (int32_t)wg_rng_below(&r, OUT);
    s->d = (wg_dataset){ .count = NS, .channels = 1, .rows = 4, .cols = 5,
                         .images = s->images, .labels = s->labels, .classes = OUT,
                         .owned = false };
}

static const wg_schedule g_sched = { .kind = WG_SCHED_COSINE, .t_max = 30, .min_lr = 1e-4,
                                     .warmup = 3 };

static wg_optim *make_opt(const char *kind, wg_params *p)
{
    if (!strcmp(kind, "sgd"))
        return wg_sgd(p, (wg_sgd_opts){ .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3 });
    if (!strcmp(kind, "sgd-plain"))
        return wg_sgd(p, (wg_sgd_opts){ .lr = 0.05 });
    if (!strcmp(kind, "adam"))
        return wg_adam(p, (wg_adam_opts){ .lr = 0.01, .weight_decay = 1e-4 });
    if (!strcmp(kind, "adamw"))
        return wg_adamw(p, (wg_adam_opts){ .lr = 0.01, .weight_decay = 1e-2 });
    return NULL;
}

static wg_train_state ts_start(void)
{
    wg_train_state ts = { 0 };
    ts.data_seed = 0xDA7A5EED;
    ts.base_lr = 0.05;
    ts.best_epoch = -1;
    ts.best_val_loss = 1e30;
    return ts;
}

/* `steps` optimizer steps over a batcher positioned from the training
 * state; every input also gets noise from the model's generator, so the
 * generator's state must come back too. */
static bool train_steps(wg_model *m, wg_optim *o, wg_train_state *ts, const synth *d, int steps)
{
    wg_tape *t = wg_tape_new();
    wg_batcher *b = wg_batcher_new(&d->d, BATCH, true, ts->data_seed);
    wg_real x[BATCH * IN];
    int32_t y[BATCH];
    bool ok = t && b && wg_batcher_seek(b, ts->epoch, ts->position) == WG_OK;
    CHECK(ok, "tape, batcher and seek: %s", wg_last_error());
    *wg_model_rng(m) = ts->rng;
    for (int s = 0; ok && s < steps; s++) {
        int n = wg_batcher_next(b, x, y);
        if (n == 0) /* the end of an epoch */
            n = wg_batcher_next(b, x, y);
        for (int k = 0; k < n * IN; k++)
            x[k] += (wg_real)(0.05 * wg_rng_normal(wg_model_rng(m)));
        wg_tape_reset(t);
        wg_tensor *logits = wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(n, IN)));
        wg_tensor *loss = wg_softmax_cross_entropy(t, logits, y);
        wg_status st = wg_backward(t, loss);
        CHECK(st == WG_OK, "backward: %s", wg_tape_error(t));
        wg_optim_set_lr(o, wg_schedule_lr(&g_sched, ts->base_lr, ts->global_step));
        if (st == WG_OK)
            st = wg_optim_step(o);
        CHECK(st == WG_OK, "step: %s", wg_last_error());
        ok = st == WG_OK;
        wg_batcher_position(b, &ts->epoch, &ts->position);
        ts->global_step++;
        if (ts->global_step % 5 == 0) { /* pretend an evaluation */
            ts->best_epoch = ts->epoch;
            ts->best_val_loss = (double)wg_item(loss);
        }
    }
    ts->rng = *wg_model_rng(m);
    wg_batcher_free(b);
    wg_tape_free(t);
    return ok;
}

static wg_model *make_mlp(uint64_t seed)
{
    return wg_mlp(IN, HID, OUT, WG_ACT_TANH, WG_INIT_DEFAULT, seed);
}

static bool ts_equal(const wg_train_state *a, const wg_train_state *b)
{
    return a->epoch == b->epoch && a->global_step == b->global_step &&
           a->position == b->position && a->data_seed == b->data_seed &&
           memcmp(a->rng.s, b->rng.s, sizeof a->rng.s) == 0 &&
           memcmp(&a->base_lr, &b->base_lr, sizeof(double)) == 0 &&
           a->best_epoch == b->best_epoch &&
           memcmp(&a->best_val_loss, &b->best_val_loss, sizeof(double)) == 0;
}

enum { RESUME_M = 9 };
#define CHILD_MAGIC 0x57474348494c4431ull /* "WGCHILD1" */

/* The fresh process: new objects from scratch, load, train, write the
 * results. Exit status 0 on success. */
static int resume_child(const char *kind, const char *ckpt, const char *out, int steps)
{
    synth *d = malloc(sizeof *d);
    synth_make(d);
    wg_model *m = make_mlp(987654);
    wg_optim *o = make_opt(kind, wg_model_params(m));
    wg_train_state ts = { 0 };
    int rc = 0;
    wg_status s = wg_checkpoint_load(ckpt, m, o, &ts, true, NULL);
    if (s != WG_OK) {
        fprintf(stderr, "resume child: %s\n", wg_last_error());
        rc = 2;
    } else if (!train_steps(m, o, &ts, d, steps)) {
        rc = 3;
    } else {
        FILE *f = fopen(out, "wb");
        uint64_t magic = CHILD_MAGIC;
        int64_t st = wg_optim_steps(o), n = wg_params_numel(wg_model_params(m));
        if (!f || fwrite(&magic, sizeof magic, 1, f) != 1 || fwrite(&st, sizeof st, 1, f) != 1 ||
            fwrite(&ts, sizeof ts, 1, f) != 1 || fwrite(&n, sizeof n, 1, f) != 1 ||
            fwrite(wg_params_values(wg_model_params(m)), sizeof(wg_real), (size_t)n, f) !=
                (size_t)n)
            rc = 4;
        if (f && fclose(f) != 0)
            rc = 4;
    }
    wg_optim_free(o);
    wg_model_free(m);
    free(d);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* 1. round trip                                                             */

typedef struct {
    char names[16][64];
    wg_shape shapes[16];
    int n;
} listing;

static void list_cb(const char *name, wg_shape shape, void *ctx)
{
    listing *l = ctx;
    if (l->n < 16) {
        snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
        l->shapes[l->n] = shape;
    }
    l->n++;
}

static bool shape_is(wg_shape s, wg_shape want)
{
    if (s.ndim != want.ndim)
        return false;
    for (int i = 0; i < s.ndim; i++)
        if (s.dim[i] != want.dim[i])
            return false;
    return true;
}

static void read_root_str(hid_t root, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    hid_t a = H5Aopen(root, name, H5P_DEFAULT);
    if (a < 0)
        return;
    hid_t t = H5Aget_type(a);
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &s) >= 0 && s) {
            snprintf(out, cap, "%s", s);
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *buf = calloc(n + 1, 1);
        if (H5Aread(a, t, buf) >= 0)
            snprintf(out, cap, "%s", buf);
        free(buf);
    }
    H5Tclose(t);
    H5Aclose(a);
}

static void test_round_trip(void)
{
    printf("== round trip\n");
    char path[1100];
    in_dir("lenet.h5", path, sizeof path);
    wg_model *a = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    wg_model *b = wg_lenet5(10, WG_INIT_DEFAULT, 2);
    CHECK(!values_equal(b, wg_params_values(wg_model_params(a))), "seeds differ");
    wg_status s = wg_checkpoint_save(path, a, NULL, NULL);
    CHECK(s == WG_OK, "save: %s", wg_last_error());
    CHECK(count_tmp(g_dir) == 0, "no temporary file left");

    wg_load_report rep;
    s = wg_checkpoint_load(path, b, NULL, NULL, true, &rep);
    CHECK(s == WG_OK, "load: %s", wg_last_error());
    CHECK(rep.loaded == 10 && rep.missing == 0 && rep.unexpected == 0 && rep.mismatched == 0,
          "report %d %d %d %d: %s", rep.loaded, rep.missing, rep.unexpected, rep.mismatched,
          rep.detail);
    CHECK(values_equal(b, wg_params_values(wg_model_params(a))), "parameters bitwise equal");

    /* the header the format documents */
    size_t n;
    unsigned char *bytes_ = read_all(path, &n);
    CHECK(bytes_ && n > 512, "read back");
    if (bytes_ && n > 512) {
        CHECK(memcmp(bytes_, "WGCKPT\r\n", 8) == 0, "magic");
        CHECK(get_le(bytes_ + 8, 4) == 1, "header version %llu",
              (unsigned long long)get_le(bytes_ + 8, 4));
        CHECK(get_le(bytes_ + 16, 8) == n - 512, "length %llu of %zu",
              (unsigned long long)get_le(bytes_ + 16, 8), n - 512);
        uLong crc = crc32(crc32(0L, Z_NULL, 0), bytes_ + 512, (uInt)(n - 512));
        CHECK(get_le(bytes_ + 12, 4) == crc, "crc");
        static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
        CHECK(memcmp(bytes_ + 512, sig, 8) == 0, "HDF5 superblock at 512");
    }
    free(bytes_);

    /* the root attributes and one dataset, read with plain libhdf5 */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "libhdf5 opens it");
    if (f >= 0) {
        hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
        char v[1024];
        read_root_str(root, "format", v, sizeof v);
        CHECK(!strcmp(v, "wengert-checkpoint"), "format %s", v);
        read_root_str(root, "dtype", v, sizeof v);
        CHECK(!strcmp(v, sizeof(wg_real) == 4 ? "float32" : "float64"), "dtype %s", v);
        read_root_str(root, "layout", v, sizeof v);
        CHECK(!strcmp(v, "pytorch"), "layout %s", v);
        read_root_str(root, "producer", v, sizeof v);
        CHECK(!strncmp(v, "wengert", 7), "producer %s", v);
        read_root_str(root, "architecture", v, sizeof v);
        CHECK(!strcmp(v, wg_model_arch_json(a)), "architecture %s", v);
        int64_t ver = 0;
        hid_t at = H5Aopen(root, "format_version", H5P_DEFAULT);
        CHECK(at >= 0 && H5Aread(at, H5T_NATIVE_INT64, &ver) >= 0 && ver == 1,
              "format_version %lld", (long long)ver);
        if (at >= 0)
            H5Aclose(at);
        H5Gclose(root);
        hid_t d = H5Dopen2(f, "/model/conv1/weight", H5P_DEFAULT);
        CHECK(d >= 0, "/model/conv1/weight");
        if (d >= 0) {
            hid_t dcpl = H5Dget_create_plist(d);
            unsigned flags;
            size_t nelm = 0;
            CHECK(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &nelm, NULL, 0, NULL,
                                       NULL) >= 0, "Fletcher-32 filter");
            H5Pclose(dcpl);
            hid_t sp = H5Dget_space(d);
            hsize_t dims[4] = { 0 };
            CHECK(H5Sget_simple_extent_ndims(sp) == 4 && H5Sget_simple_extent_dims(sp, dims, NULL)
                      && dims[0] == 6 && dims[1] == 1 && dims[2] == 5 && dims[3] == 5,
                  "OIHW [6 x 1 x 5 x 5]");
            H5Sclose(sp);
            H5Dclose(d);
        }
        H5Fclose(f);
    }

    /* inspect: the ten names in state_dict order, their shapes, the architecture */
    static const char *const names[] = { "conv1.weight", "conv1.bias", "conv2.weight",
                                         "conv2.bias",   "fc1.weight", "fc1.bias",
                                         "fc2.weight",   "fc2.bias",   "fc3.weight",
                                         "fc3.bias" };
    const wg_shape shapes[] = { WG_SHAPE(6, 1, 5, 5), WG_SHAPE(6),  WG_SHAPE(16, 6, 5, 5),
                                WG_SHAPE(16),         WG_SHAPE(120, 400), WG_SHAPE(120),
                                WG_SHAPE(84, 120),    WG_SHAPE(84), WG_SHAPE(10, 84),
                                WG_SHAPE(10) };
    listing l = { .n = 0 };
    char arch[1024] = "";
    s = wg_checkpoint_inspect(path, list_cb, &l, arch, sizeof arch);
    CHECK(s == WG_OK, "inspect: %s", wg_last_error());
    CHECK(l.n == 10, "inspect listed %d", l.n);
    for (int i = 0; i < 10 && i < l.n; i++) {
        char sb[96];
        CHECK(!strcmp(l.names[i], names[i]), "inspect %d: %s, expected %s", i, l.names[i],
              names[i]);
        CHECK(shape_is(l.shapes[i], shapes[i]), "inspect %s: %s", names[i],
              wg_shape_str(l.shapes[i], sb, sizeof sb));
    }
    CHECK(!strcmp(arch, wg_model_arch_json(a)), "inspect architecture %s", arch);
    printf("  inspect: %d parameters, %s\n", l.n, arch);
    /* a short buffer is cut, not overrun */
    char small[8];
    memset(small, 'x', sizeof small);
    s = wg_checkpoint_inspect(path, NULL, NULL, small, 5);
    CHECK(s == WG_OK && strlen(small) == 4 && small[5] == 'x', "architecture cut to the buffer");

    /* load_model rebuilds it from the architecture string */
    wg_model *c = wg_checkpoint_load_model(path);
    CHECK(c != NULL, "load_model: %s", wg_last_error());
    if (c) {
        CHECK(!strcmp(wg_model_kind(c), "lenet5"), "kind %s", wg_model_kind(c));
        CHECK(!strcmp(wg_model_arch_json(c), wg_model_arch_json(a)), "arch %s",
              wg_model_arch_json(c));
        CHECK(values_bytes(c) == values_bytes(a) &&
                  values_equal(c, wg_params_values(wg_model_params(a))),
              "rebuilt parameters equal");
        wg_model_free(c);
    }

    /* saving again over it (an existing file) and to a bare file name */
    s = wg_checkpoint_save(path, b, NULL, NULL);
    CHECK(s == WG_OK, "save over: %s", wg_last_error());
    CHECK(count_tmp(g_dir) == 0, "no temporary file left");

    /* the model-only checkpoint of an MLP, and load_model of it */
    wg_model *mlp = make_mlp(5);
    char mp[1100];
    in_dir("mlp-only.h5", mp, sizeof mp);
    CHECK(wg_checkpoint_save(mp, mlp, NULL, NULL) == WG_OK, "mlp save: %s", wg_last_error());
    wg_model *mc = wg_checkpoint_load_model(mp);
    CHECK(mc && !strcmp(wg_model_arch_json(mc), wg_model_arch_json(mlp)) &&
              values_equal(mc, wg_params_values(wg_model_params(mlp))),
          "mlp load_model: %s", mc ? "values differ" : wg_last_error());
    wg_model_free(mc);
    wg_model_free(mlp);
    unlink(mp);

    /* a missing file: every entry point names it whole in its message */
    char nope[1100];
    in_dir("missing.h5", nope, sizeof nope);
    s = wg_checkpoint_load(nope, b, NULL, NULL, true, NULL);
    CHECK(s == WG_EIO && strstr(wg_last_error(), nope), "load of a missing file: %s",
          wg_last_error());
    s = wg_checkpoint_inspect(nope, list_cb, &l, arch, sizeof arch);
    CHECK(s == WG_EIO && strstr(wg_last_error(), nope), "inspect of a missing file: %s",
          wg_last_error());
    CHECK(wg_checkpoint_load_model(nope) == NULL && strstr(wg_last_error(), nope),
          "load_model of a missing file: %s", wg_last_error());

    wg_model_free(a);
    wg_model_free(b);
    unlink(path);
}

/* ------------------------------------------------------------------------ */
/* 2. bitwise resume                                                         */

static void test_resume(const char *kind, int n_steps, const char *self)
{
    printf("== resume, %s, after %d steps\n", kind, n_steps);
    synth *d = malloc(sizeof *d);
    synth_make(d);
    char ckpt[1100], out[1100];
    snprintf(ckpt, sizeof ckpt, "%s/resume-%s.h5", g_dir, kind);
    snprintf(out, sizeof out, "%s/resume-%s.out", g_dir, kind);

    /* the reference: N steps, save, M more */
    wg_model *m = make_mlp(11);
    wg_optim *o = make_opt(kind, wg_model_params(m));
    wg_train_state ts = ts_start();
    ts.rng = *wg_model_rng(m);
    CHECK(train_steps(m, o, &ts, d, n_steps), "train");
    ts.best_val_loss = 0.123456789012345678; /* every bit must come back */
    wg_train_state saved_ts = ts;
    double saved_lr = wg_optim_lr(o);
    wg_status s = wg_checkpoint_save(ckpt, m, o, &ts);
    CHECK(s == WG_OK, "save with the optimizer's state: %s", wg_last_error());
    if (s != WG_OK) { /* nothing to resume from */
        wg_optim_free(o);
        wg_model_free(m);
        free(d);
        return;
    }
    CHECK(train_steps(m, o, &ts, d, RESUME_M), "train on");
    wg_real *ref = values_copy(m);
    int64_t ref_steps = wg_optim_steps(o);
    wg_train_state ref_ts = ts;
    CHECK(ref_steps == n_steps + RESUME_M, "%lld steps", (long long)ref_steps);

    /* a fresh process: new objects, load, M steps */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char steps[16];
        snprintf(steps, sizeof steps, "%d", RESUME_M);
        execl(self, self, "--resume-child", kind, ckpt, out, steps, (char *)NULL);
        _exit(resume_child(kind, ckpt, out, RESUME_M)); /* no exec: the forked child */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    size_t n;
    unsigned char *res = read_all(out, &n);
    size_t head = sizeof(uint64_t) + sizeof(int64_t) + sizeof(wg_train_state) + sizeof(int64_t);
    CHECK(res && n == head + values_bytes(m), "child output %zu bytes", n);
    if (res && n == head + values_bytes(m)) {
        uint64_t magic;
        int64_t st, cnt;
        wg_train_state cts;
        unsigned char *p = res;
        memcpy(&magic, p, sizeof magic);
        p += sizeof magic;
        memcpy(&st, p, sizeof st);
        p += sizeof st;
        memcpy(&cts, p, sizeof cts);
        p += sizeof cts;
        memcpy(&cnt, p, sizeof cnt);
        p += sizeof cnt;
        CHECK(magic == CHILD_MAGIC && cnt == wg_params_numel(wg_model_params(m)), "child header");
        CHECK(st == ref_steps, "fresh process: optimizer steps %lld vs %lld", (long long)st,
              (long long)ref_steps);
        CHECK(ts_equal(&cts, &ref_ts), "fresh process: training state differs");
        CHECK(memcmp(p, ref, values_bytes(m)) == 0,
              "fresh process: parameters after resuming differ from the uninterrupted run");
        printf("  fresh process: %lld steps, parameters bitwise %s\n", (long long)st,
               memcmp(p, ref, values_bytes(m)) == 0 ? "equal" : "DIFFERENT");
    }
    free(res);
    unlink(out);

    /* in-process, fresh objects */
    wg_model *m2 = make_mlp(4321);
    wg_optim *o2 = make_opt(kind, wg_model_params(m2));
    wg_train_state ts2 = { 0 };
    wg_load_report rep;
    s = wg_checkpoint_load(ckpt, m2, o2, &ts2, true, &rep);
    CHECK(s == WG_OK, "load: %s", wg_last_error());
    CHECK(ts_equal(&ts2, &saved_ts), "training state restored exactly");
    CHECK(wg_optim_steps(o2) == n_steps, "optimizer steps %lld", (long long)wg_optim_steps(o2));
    CHECK(wg_optim_lr(o2) == saved_lr, "optimizer lr %g vs %g", wg_optim_lr(o2), saved_lr);
    CHECK(!strcmp(wg_optim_kind(o2), kind), "kind");
    CHECK(train_steps(m2, o2, &ts2, d, RESUME_M), "train");
    CHECK(values_equal(m2, ref), "in process: parameters after resuming differ");
    CHECK(wg_optim_steps(o2) == ref_steps, "steps %lld", (long long)wg_optim_steps(o2));
    CHECK(ts_equal(&ts2, &ref_ts), "in process: training state differs");

    /* the control: without the optimizer's state the run is different, so
     * the comparisons above can tell */
    wg_model *m3 = make_mlp(4321);
    wg_optim *o3 = make_opt(kind, wg_model_params(m3));
    wg_train_state ts3 = { 0 };
    CHECK(wg_checkpoint_load(ckpt, m3, NULL, &ts3, true, NULL) == WG_OK, "load model only");
    CHECK(train_steps(m3, o3, &ts3, d, RESUME_M), "train");
    CHECK(!values_equal(m3, ref), "a resume without optimizer state should differ");

    wg_optim_free(o3);
    wg_model_free(m3);
    wg_optim_free(o2);
    wg_model_free(m2);
    free(ref);
    wg_optim_free(o);
    wg_model_free(m);
    free(d);
    unlink(ckpt);
}

/* ------------------------------------------------------------------------ */
/* 3. failures: status, message, nothing changed                             */

typedef struct {
    wg_model *m;
    wg_optim *o;        /* may be NULL */
    wg_train_state *ts; /* may be NULL */
} victim;

static void expect_fail(const char *what, const char *path, victim *v, bool strict,
                        wg_status want, const char *needles)
{
    wg_real *before = values_copy(v->m);
    bytes ob = { 0 };
    if (v->o)
        ob = optim_fingerprint(v->m, v->o);
    wg_train_state tsb = v->ts ? *v->ts : (wg_train_state){ 0 };
    wg_load_report rep;
    wg_status s = wg_checkpoint_load(path, v->m, v->o, v->ts, strict, &rep);
    char msg[4096];
    snprintf(msg, sizeof msg, "%s", wg_last_error());
    printf("  %-34s %-10s %s\n", what, s == WG_OK ? "OK" : wg_strerror(s), s ? msg : "");
    CHECK(s == want, "%s: status %d (%s), expected %d: %s", what, s, wg_strerror(s), want, msg);
    if (s != WG_OK) {
        CHECK(strstr(msg, path) != NULL, "%s: the message does not name the file: %s", what, msg);
        CHECK(has_any(msg, needles), "%s: the message does not say \"%s\": %s", what, needles,
              msg);
        CHECK(strlen(msg) < 1500, "%s: message of %zu bytes", what, strlen(msg));
    }
    CHECK(values_equal(v->m, before), "%s: parameters changed by a failed load", what);
    if (v->o) {
        bytes oa = optim_fingerprint(v->m, v->o);
        CHECK(bytes_eq(&ob, &oa), "%s: optimizer state changed by a failed load", what);
        free(oa.p);
    }
    if (v->ts)
        CHECK(memcmp(&tsb, v->ts, sizeof tsb) == 0, "%s: training state changed", what);
    free(ob.p);
    free(before);
}

static haddr_t chunk_address(const char *path, const char *dset, hsize_t *size)
{
    haddr_t addr = HADDR_UNDEF;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dset, H5P_DEFAULT) : -1;
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hsize_t off[WG_MAX_DIMS];
        unsigned mask;
        if (H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, size) < 0)
            addr = HADDR_UNDEF;
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (f >= 0)
        H5Fclose(f);
    return addr;
}

static size_t find_bytes(const char *path, const char *needle)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    const unsigned char *p = b ? memmem(b, n, needle, strlen(needle)) : NULL;
    size_t off = p ? (size_t)(p - b) : 0;
    free(b);
    return off;
}

/* writes a parameter of a saved file through libhdf5 (Fletcher-32 is
 * recomputed by the filter), then reseals */
static bool poke_value(const char *path, const char *dset, int64_t index, double value, bool seal)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dset, H5P_DEFAULT) : -1;
    bool ok = d >= 0;
    if (ok) {
        hid_t sp = H5Dget_space(d);
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        H5Sclose(sp);
        double *v = malloc((size_t)n * sizeof *v);
        ok = index < n && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
        if (ok) {
            v[index] = value;
            ok = H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
        }
        free(v);
        H5Dclose(d);
    }
    if (f >= 0 && H5Fclose(f) < 0)
        ok = false;
    return ok && (!seal || reseal(path));
}

static bool set_format_version(const char *path, int64_t version)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t root = f >= 0 ? H5Gopen2(f, "/", H5P_DEFAULT) : -1;
    hid_t a = root >= 0 ? H5Aopen(root, "format_version", H5P_DEFAULT) : -1;
    bool ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &version) >= 0;
    if (a >= 0)
        H5Aclose(a);
    if (root >= 0)
        H5Gclose(root);
    if (f >= 0 && H5Fclose(f) < 0)
        ok = false;
    return ok && reseal(path);
}

static herr_t vstr_attr(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

/* A checkpoint as h5py would write it: no user block, variable-length
 * strings, contiguous datasets without filters, float32 or float64. */
static bool write_plain_h5(const char *path, wg_model *src, bool f64)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return false;
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    int64_t ver = 1;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(root, "format_version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = H5Awrite(a, H5T_NATIVE_INT64, &ver);
    H5Aclose(a);
    H5Sclose(sp);
    r |= vstr_attr(root, "format", "wengert-checkpoint");
    r |= vstr_attr(root, "dtype", f64 ? "float64" : "float32");
    r |= vstr_attr(root, "layout", "pytorch");
    r |= vstr_attr(root, "producer", "h5py (test_checkpoint)");
    r |= vstr_attr(root, "architecture", wg_model_arch_json(src));
    H5Gclose(root);
    wg_params *P = wg_model_params(src);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    /* in reverse order: the file's order must not matter */
    for (int i = wg_params_count(P) - 1; i >= 0 && r >= 0; i--) {
        wg_tensor *t = wg_params_at(P, i);
        hsize_t dims[WG_MAX_DIMS];
        for (int k = 0; k < wg_ndim(t); k++)
            dims[k] = (hsize_t)wg_dim(t, k);
        char h[512];
        h5_name("/model", wg_name(t), NULL, h, sizeof h);
        hid_t s = H5Screate_simple(wg_ndim(t), dims, NULL);
        hid_t d = H5Dcreate2(f, h, f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, s, lcpl, H5P_DEFAULT,
                             H5P_DEFAULT);
        r = d < 0 ? -1 : H5Dwrite(d, H5_REAL, H5S_ALL, H5S_ALL, H5P_DEFAULT, wg_data(t));
        if (d >= 0)
            H5Dclose(d);
        H5Sclose(s);
    }
    H5Pclose(lcpl);
    if (H5Fclose(f) < 0)
        r = -1;
    return r >= 0;
}

/* exit codes of a fuzz child */
enum {
    FZ_LOADED = 10, FZ_REFUSED = 11, FZ_NONFINITE = 12, FZ_BADMSG = 13, FZ_CHANGED = 14,
    FZ_LOADED_DIFF = 15
};

/* what the unflipped file holds */
typedef struct {
    const wg_real *values;
    const wg_train_state *ts;
    int64_t steps;
} fuzz_ref;

static int fuzz_one(const char *path, victim *v, const fuzz_ref *ref)
{
    wg_real *before = values_copy(v->m);
    wg_train_state tsb = *v->ts;
    int64_t steps = wg_optim_steps(v->o);
    wg_status s = wg_checkpoint_load(path, v->m, v->o, v->ts, true, NULL);
    int rc;
    if (s == WG_OK)
        rc = !all_finite(v->m) ? FZ_NONFINITE
             : values_equal(v->m, ref->values) && ts_equal(v->ts, ref->ts) &&
                       wg_optim_steps(v->o) == ref->steps
                 ? FZ_LOADED
                 : FZ_LOADED_DIFF;
    else if (!strstr(wg_last_error(), path) || (s != WG_EFORMAT && s != WG_ENONFINITE))
        rc = FZ_BADMSG;
    else if (!values_equal(v->m, before) || memcmp(&tsb, v->ts, sizeof tsb) != 0 ||
             wg_optim_steps(v->o) != steps)
        rc = FZ_CHANGED;
    else
        rc = FZ_REFUSED;
    if (rc == FZ_BADMSG)
        fprintf(stderr, "  fuzz: status %d, message %s\n", s, wg_last_error());
    free(before);
    return rc;
}

static void test_failures(void)
{
    printf("== failed loads\n");
    synth *d = malloc(sizeof *d);
    synth_make(d);
    char good[1100], bad[1100];
    in_dir("good.h5", good, sizeof good);
    in_dir("bad.h5", bad, sizeof bad);

    /* the file: an MLP trained 5 steps with SGD momentum, with its state */
    wg_model *gm = make_mlp(22);
    wg_optim *go = make_opt("sgd", wg_model_params(gm));
    wg_train_state gts = ts_start();
    gts.rng = *wg_model_rng(gm);
    train_steps(gm, go, &gts, d, 5);
    wg_status gs = wg_checkpoint_save(good, gm, go, &gts);
    CHECK(gs == WG_OK, "save with the optimizer's state: %s", wg_last_error());
    if (gs != WG_OK) { /* every case below starts from this file */
        wg_optim_free(go);
        wg_model_free(gm);
        free(d);
        return;
    }
    size_t size = (size_t)file_size(good);

    /* the victim: another MLP trained 3 steps, so all its state is nonzero */
    wg_model *vm = make_mlp(21);
    wg_optim *vo = make_opt("sgd", wg_model_params(vm));
    wg_train_state vts = ts_start();
    vts.rng = *wg_model_rng(vm);
    train_steps(vm, vo, &vts, d, 3);
    victim v = { vm, vo, &vts };
    /* its twin never sees a failed load; both train on at the end */
    wg_model *tm = make_mlp(21);
    wg_optim *to = make_opt("sgd", wg_model_params(tm));
    wg_train_state tts = ts_start();
    tts.rng = *wg_model_rng(tm);
    train_steps(tm, to, &tts, d, 3);

    /* the control: the good file does load (into a throwaway copy) */
    {
        wg_model *cm = make_mlp(21);
        wg_optim *co = make_opt("sgd", wg_model_params(cm));
        wg_train_state cts;
        CHECK(wg_checkpoint_load(good, cm, co, &cts, true, NULL) == WG_OK, "good file: %s",
              wg_last_error());
        CHECK(values_equal(cm, wg_params_values(wg_model_params(gm))), "good file loads");
        wg_optim_free(co);
        wg_model_free(cm);
    }

    char missing[1100];
    in_dir("no-such-file.h5", missing, sizeof missing);
    expect_fail("missing file", missing, &v, true, WG_EIO, "No such file");
    expect_fail("a directory", g_dir, &v, true, WG_EIO, "is a directory, not a checkpoint");
    CHECK(wg_checkpoint_load_model(g_dir) == NULL &&
              strstr(wg_last_error(), "checkpoint_load_model: ") == wg_last_error() &&
              strstr(wg_last_error(), "is a directory, not a checkpoint"),
          "load_model of a directory: %s", wg_last_error());

    CHECK(write_all(bad, "", 0), "write");
    expect_fail("empty file", bad, &v, true, WG_EFORMAT, "empty");

    const char *text = "epoch,loss\n1,0.53\n2,0.41\n3,0.38\nthis is not a checkpoint\n";
    CHECK(write_all(bad, text, strlen(text)), "write");
    expect_fail("text file", bad, &v, true, WG_EFORMAT, "not a wengert");

    /* a lone HDF5 signature followed by garbage reaches libhdf5 (no header) */
    {
        unsigned char junk[700];
        static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
        wg_rng r = wg_rng_seed(8);
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (unsigned char)wg_rng_next(&r);
        memcpy(junk, sig, 8);
        CHECK(write_all(bad, junk, sizeof junk), "write");
        expect_fail("HDF5 signature + garbage", bad, &v, true, WG_EFORMAT, "HDF5");
    }

    /* truncations */
    {
        size_t n;
        unsigned char *b = read_all(good, &n);
        const size_t cuts[] = { 10, 24, 511, 600, n / 2, n - 1 };
        for (size_t i = 0; b && i < sizeof cuts / sizeof cuts[0]; i++) {
            char what[64];
            snprintf(what, sizeof what, "truncated to %zu of %zu", cuts[i], n);
            CHECK(write_all(bad, b, cuts[i]), "write");
            /* below the header's 24 bytes the magic is incomplete */
            expect_fail(what, bad, &v, true, WG_EFORMAT,
                        cuts[i] < 24 ? "truncated|not a wengert" : "truncated");
        }
        /* and extended: a byte appended */
        unsigned char *b2 = b ? malloc(n + 1) : NULL;
        if (b2) {
            memcpy(b2, b, n);
            b2[n] = 0;
            CHECK(write_all(bad, b2, n + 1), "write");
            expect_fail("one byte appended", bad, &v, true, WG_EFORMAT, "truncated|extended");
        }
        free(b2);
        free(b);
    }

    /* bit flips, caught by the CRC before libhdf5 parses anything */
    {
        hsize_t csize = 0;
        haddr_t caddr = chunk_address(good, "/model/fc1/weight", &csize);
        CHECK(caddr != HADDR_UNDEF && csize > 0, "chunk address of fc1.weight");
        size_t attr = find_bytes(good, "format_version");
        CHECK(attr > 512, "the root attributes' metadata");
        struct {
            size_t off;
            unsigned char mask;
            const char *where, *needles;
        } flips[] = {
            { 0, 0x01, "header: magic", "not a wengert" },
            { 7, 0x80, "header: magic (last byte)", "not a wengert" },
            { 8, 0x02, "header: version", "version" },
            { 13, 0x10, "header: crc", "checksum|corrupt" },
            { 17, 0x01, "header: length", "truncated|extended" },
            { 23, 0x80, "header: length (top byte)", "truncated|extended" },
            { 512, 0x01, "HDF5 signature", "checksum|corrupt" },
            { 512 + 9, 0x04, "HDF5 superblock", "checksum|corrupt" },
            { 512 + 30, 0x01, "HDF5 superblock addresses", "checksum|corrupt" },
            { attr, 0x20, "HDF5 root object header", "checksum|corrupt" },
            { 512 + (size_t)caddr + 3, 0x01, "data: fc1.weight[0]", "checksum|corrupt" },
            { 512 + (size_t)caddr + (size_t)csize / 2, 0x40, "data: middle of fc1.weight",
              "checksum|corrupt" },
            { size - 1, 0x01, "last byte", "checksum|corrupt" },
        };
        for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
            char what[96];
            snprintf(what, sizeof what, "flip @%zu (%s)", flips[i].off, flips[i].where);
            CHECK(copy_file(good, bad) && flip_byte(bad, flips[i].off, flips[i].mask), "flip");
            expect_fail(what, bad, &v, true, WG_EFORMAT, flips[i].needles);
        }
        /* the rest of the user block carries nothing: a flip there is harmless */
        CHECK(copy_file(good, bad) && flip_byte(bad, 300, 0xff), "flip");
        wg_model *cm = make_mlp(1);
        CHECK(wg_checkpoint_load(bad, cm, NULL, NULL, true, NULL) == WG_OK &&
                  values_equal(cm, wg_params_values(wg_model_params(gm))),
              "flip in the unused user block: %s", wg_last_error());
        wg_model_free(cm);
    }

    /* resealed flips reach libhdf5: an error or finite values, never a crash */
    {
        const char *env = getenv("WG_CKPT_FUZZ");
        int tries = env ? atoi(env) : 50;
        wg_rng r = wg_rng_seed(2024);
        int loaded = 0, refused = 0, crashed = 0, other = 0, differ = 0;
        char crashes[2048] = "", differs[2048] = "";
        fuzz_ref ref = { wg_params_values(wg_model_params(gm)), &gts, wg_optim_steps(go) };
        for (int i = 0; i < tries; i++) {
            size_t off = 512 + (size_t)wg_rng_below(&r, size - 512);
            /* one bit, or a whole byte replaced by another */
            unsigned char mask = (unsigned char)(i % 2 ? 1u << wg_rng_below(&r, 8)
                                                       : 1 + wg_rng_below(&r, 255));
            CHECK(copy_file(good, bad) && flip_byte(bad, off, mask) && reseal(bad), "flip");
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0)
                _exit(fuzz_one(bad, &v, &ref));
            int st = 0;
            waitpid(pid, &st, 0);
            if (WIFEXITED(st) && WEXITSTATUS(st) == FZ_LOADED) {
                loaded++;
            } else if (WIFEXITED(st) && WEXITSTATUS(st) == FZ_LOADED_DIFF) {
                /* libhdf5 checks its metadata and Fletcher-32 the data, but
                 * not everything (e.g. some attribute payloads): a
                 * resealed flip may load different finite values */
                differ++;
                size_t o = strlen(differs);
                snprintf(differs + o, sizeof differs - o, " %zu^%02x", off, mask);
            } else if (WIFEXITED(st) && WEXITSTATUS(st) == FZ_REFUSED) {
                refused++;
            } else if (WIFSIGNALED(st)) {
                crashed++;
                size_t o = strlen(crashes);
                snprintf(crashes + o, sizeof crashes - o, " %zu^%02x(signal %d)", off, mask,
                         WTERMSIG(st));
            } else {
                other++;
                CHECK(0, "flip @%zu ^%02x: child exit %d (10 loaded, 11 refused, 12 non-finite, "
                      "13 bad message, 14 changed on failure, 15 loaded other values, 1 sanitizer)", off, mask,
                      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            }
        }
        printf("  %d resealed bit flips: %d refused, %d loaded the same values, %d loaded other "
               "finite values, %d crashed, %d other\n", tries, refused, loaded, differ, crashed,
               other);
        if (differ)
            printf("  loaded other values at (offset^mask):%s\n", differs);
        if (crashed)
            printf("  CRASHES (offset^mask): %s\n", crashes);
        CHECK(crashed == 0, "loads crashed on resealed flips:%s", crashes);
    }

    /* a checkpoint of another architecture */
    {
        wg_model *ln = wg_lenet5(10, WG_INIT_DEFAULT, 9);
        victim lv = { ln, NULL, NULL };
        char mp[1100];
        in_dir("mlp.h5", mp, sizeof mp);
        CHECK(wg_checkpoint_save(mp, gm, NULL, NULL) == WG_OK, "save");
        expect_fail("MLP file into LeNet, strict", mp, &lv, true, WG_EFORMAT, "mlp");
        CHECK(strstr(wg_last_error(), "mlp") && strstr(wg_last_error(), "lenet5"),
              "both architectures named: %s", wg_last_error());
        expect_fail("MLP file into LeNet, non-strict", mp, &lv, false, WG_EFORMAT,
                    "no parameter matches");
        /* and with the optimizer given */
        wg_optim *lo = make_opt("sgd", wg_model_params(ln));
        victim lv2 = { ln, lo, NULL };
        expect_fail("MLP file into LeNet + SGD", good, &lv2, true, WG_EFORMAT, "lenet5");
        wg_optim_free(lo);
        unlink(mp);
        wg_model_free(ln);
    }

    /* a format from the future */
    CHECK(copy_file(good, bad) && set_format_version(bad, 2), "rewrite format_version");
    expect_fail("format_version 2", bad, &v, true, WG_EFORMAT, "version 2");
    CHECK(copy_file(good, bad) && set_format_version(bad, 0), "rewrite format_version");
    expect_fail("format_version 0", bad, &v, true, WG_EFORMAT, "version");

    /* non-finite values */
    CHECK(copy_file(good, bad) && poke_value(bad, "/model/fc2/weight", 5, NAN, true), "poke NaN");
    expect_fail("NaN in fc2.weight", bad, &v, true, WG_ENONFINITE, "fc2.weight");
    CHECK(copy_file(good, bad) && poke_value(bad, "/model/fc1/bias", 0, INFINITY, true), "poke inf");
    expect_fail("inf in fc1.bias", bad, &v, false, WG_ENONFINITE, "fc1.bias");
    CHECK(copy_file(good, bad) &&
              poke_value(bad, "/optimizer/state/fc2/bias/momentum_buffer", 1, NAN, true),
          "poke NaN");
    expect_fail("NaN in a momentum buffer", bad, &v, true, WG_EFORMAT, "fc2.bias");
    /* a float64 file whose value is beyond float's range: whatever the
     * conversion gives, a load fails cleanly or gives finite values */
    if (sizeof(wg_real) == 4) {
        wg_model *src = make_mlp(22);
        char p64[1100];
        in_dir("f64-overflow.h5", p64, sizeof p64);
        CHECK(write_plain_h5(p64, src, true) && poke_value(p64, "/model/fc2/bias", 2, 1e300, false),
              "write f64");
        wg_real *before = values_copy(vm);
        wg_status s = wg_checkpoint_load(p64, vm, NULL, NULL, true, NULL);
        printf("  %-34s %-10s %s\n", "1e300 in a float64 file", s == WG_OK ? "OK" : wg_strerror(s),
               s ? wg_last_error() : "");
        if (s == WG_OK) {
            CHECK(all_finite(vm), "1e300 loaded as a non-finite float");
            memcpy(wg_params_values(wg_model_params(vm)), before, values_bytes(vm));
        } else {
            CHECK(values_equal(vm, before) && strstr(wg_last_error(), "fc2.bias"),
                  "1e300: unchanged, message names fc2.bias: %s", wg_last_error());
        }
        free(before);
        unlink(p64);
        wg_model_free(src);
    }

    /* a file without the user block (as h5py writes one) loads */
    for (int f64 = 0; f64 < 2; f64++) {
        wg_model *src = make_mlp(77);
        char pp[1100];
        in_dir(f64 ? "plain64.h5" : "plain.h5", pp, sizeof pp);
        CHECK(write_plain_h5(pp, src, f64), "write plain");
        wg_model *dst = make_mlp(78);
        wg_load_report rep;
        wg_status s = wg_checkpoint_load(pp, dst, NULL, NULL, true, &rep);
        CHECK(s == WG_OK, "plain HDF5 (%s): %s", f64 ? "float64" : "float32", wg_last_error());
        CHECK(values_equal(dst, wg_params_values(wg_model_params(src))),
              "plain HDF5: values (exactly representable either way)");
        CHECK(rep.loaded == 4, "loaded %d", rep.loaded);
        listing l = { .n = 0 };
        char arch[512];
        CHECK(wg_checkpoint_inspect(pp, list_cb, &l, arch, sizeof arch) == WG_OK && l.n == 4 &&
                  !strcmp(arch, wg_model_arch_json(src)),
              "inspect a plain file: %s", wg_last_error());
        wg_model *lm = wg_checkpoint_load_model(pp);
        CHECK(lm && values_equal(lm, wg_params_values(wg_model_params(src))),
              "load_model of a plain file: %s", wg_last_error());
        printf("  plain HDF5 without user block (%s): loaded %d, inspect listed %d\n",
               f64 ? "float64" : "float32", rep.loaded, l.n);
        /* not fuzzed: a plain file has no CRC, so libhdf5 parses a corrupt
         * one itself, and libhdf5 1.10.8 can crash (H5HG_read) or hang on a
         * corrupt global heap of variable-length strings */
        wg_model_free(lm);
        wg_model_free(dst);
        wg_model_free(src);
        unlink(pp);
    }

    /* the optimizer does not match the file */
    {
        /* an Adam victim with a state of its own */
        wg_model *am = make_mlp(31);
        wg_optim *ao = make_opt("adam", wg_model_params(am));
        wg_train_state ats = ts_start();
        ats.rng = *wg_model_rng(am);
        train_steps(am, ao, &ats, d, 2);
        victim av = { am, ao, &ats };
        expect_fail("SGD file into Adam", good, &av, true, WG_EFORMAT, "adam");
        CHECK(strstr(wg_last_error(), "sgd") && strstr(wg_last_error(), "adam"),
              "both optimizers named: %s", wg_last_error());
        wg_model_free(am);
        wg_optim_free(ao);

        char mo[1100];
        in_dir("model-only.h5", mo, sizeof mo);
        CHECK(wg_checkpoint_save(mo, gm, NULL, NULL) == WG_OK, "save");
        expect_fail("no /optimizer, optimizer given", mo, &v, true, WG_EFORMAT, "optimizer");
        victim vts_only = { vm, NULL, &vts };
        expect_fail("no /training, state given", mo, &vts_only, true, WG_EFORMAT, "training");
        unlink(mo);

        /* momentum state into SGD without momentum */
        wg_optim *po = make_opt("sgd-plain", wg_model_params(vm));
        wg_real *before = values_copy(vm);
        wg_status s = wg_checkpoint_load(good, vm, po, NULL, true, NULL);
        printf("  %-34s %-10s %s\n", "SGD momentum file into plain SGD",
               s == WG_OK ? "OK" : wg_strerror(s), s ? wg_last_error() : "");
        if (s != WG_OK)
            CHECK(values_equal(vm, before), "unchanged");
        else
            memcpy(wg_params_values(wg_model_params(vm)), before, values_bytes(vm));
        free(before);
        wg_optim_free(po);
    }

    /* invalid arguments */
    CHECK(wg_checkpoint_load(NULL, vm, NULL, NULL, true, NULL) == WG_EINVAL, "NULL path");
    CHECK(wg_checkpoint_load(good, NULL, NULL, NULL, true, NULL) == WG_EINVAL, "NULL model");
    CHECK(wg_checkpoint_load(good, gm, vo, NULL, true, NULL) == WG_EINVAL,
          "another model's optimizer");

    /* after all that the victim trains exactly like its untouched twin */
    CHECK(values_equal(vm, wg_params_values(wg_model_params(tm))), "victim equals twin");
    train_steps(vm, vo, &vts, d, 4);
    train_steps(tm, to, &tts, d, 4);
    CHECK(values_equal(vm, wg_params_values(wg_model_params(tm))) &&
              wg_optim_steps(vo) == wg_optim_steps(to) && ts_equal(&vts, &tts),
          "after the failed loads the victim trains like its twin");

    unlink(bad);
    unlink(good);
    wg_optim_free(to);
    wg_model_free(tm);
    wg_optim_free(vo);
    wg_model_free(vm);
    wg_optim_free(go);
    wg_model_free(gm);
    free(d);
}

/* ------------------------------------------------------------------------ */
/* 4. non-strict loads for fine-tuning                                       */

/* Replaces the root's architecture attribute and reseals: a file whose
 * architecture claim is not what its parameters are. */
static bool set_arch(const char *path, const char *json)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t root = f >= 0 ? H5Gopen2(f, "/", H5P_DEFAULT) : -1;
    bool ok = root >= 0 && H5Adelete(root, "architecture") >= 0 &&
              vstr_attr(root, "architecture", json) >= 0;
    if (root >= 0)
        H5Gclose(root);
    if (f >= 0 && H5Fclose(f) < 0)
        ok = false;
    return ok && reseal(path);
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* wg_checkpoint_load_model builds what the architecture attribute claims:
 * a claim the file's parameters cannot fill is refused before anything is
 * allocated for it (once a fuzzer finding: a 20 KB file that claimed an
 * MLP of 50 million parameters cost 800 MB). */
static void test_arch_claims(void)
{
    char path[1100], msg[2048];
    in_dir("claims.h5", path, sizeof path);
    wg_model *src = make_mlp(31);
    const int64_t held = wg_params_numel(wg_model_params(src));
    /* claims of every built-in kind, each buildable but larger than the
     * file: the count in the message is the one the built model has */
    const char *claims[] = {
        "{\"kind\":\"mlp\",\"in\":4,\"hidden\":300,\"out\":2,\"activation\":\"tanh\"}",
        "{\"kind\":\"lenet5\",\"classes\":10}",
        "{\"kind\":\"autoencoder\",\"in\":20,\"h1\":8,\"h2\":4,\"h3\":8}",
        "{\"kind\":\"softmax\",\"in\":100,\"classes\":5}",
    };
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        wg_model *want = wg_model_from_json(claims[i], 0);
        CHECK(want != NULL, "build %s: %s", claims[i], wg_last_error());
        if (!want)
            continue;
        /* "at most": the bound counts the stored bytes, checksums included */
        char numbers[128];
        snprintf(numbers, sizeof numbers, "has %lld parameters; the file's /model holds at most ",
                 (long long)wg_params_numel(wg_model_params(want)));
        CHECK(wg_checkpoint_save(path, src, NULL, NULL) == WG_OK && set_arch(path, claims[i]),
              "write the claim %s", claims[i]);
        wg_model *m = wg_checkpoint_load_model(path);
        snprintf(msg, sizeof msg, "%s", wg_last_error());
        const char *bound = strstr(msg, numbers);
        long long at_most = bound ? atoll(bound + strlen(numbers)) : -1;
        CHECK(m == NULL && strstr(msg, "checkpoint_load_model: ") == msg && strstr(msg, path) &&
                  at_most >= held && at_most < held + 16,
              "claim %s: want \"%s%lld values\", got %s", claims[i], numbers, (long long)held,
              msg);
        wg_model_free(m);
        wg_model_free(want);
    }

    /* the fuzzer's claim: refused without the 200 MB it describes */
    CHECK(wg_checkpoint_save(path, src, NULL, NULL) == WG_OK &&
              set_arch(path, "{\"kind\":\"mlp\",\"in\":16777216,\"hidden\":3,\"out\":2}"),
          "write the huge claim");
    long before = peak_rss_kb();
    wg_model *m = wg_checkpoint_load_model(path);
    long grew = peak_rss_kb() - before;
    CHECK(m == NULL && strstr(wg_last_error(), "has 50331659 parameters"), "huge claim: %s",
          wg_last_error());
    CHECK(grew < 32 * 1024, "the refused claim raised the peak memory by %ld KB", grew);
    wg_model_free(m);

    /* a kind that is not built in */
    CHECK(wg_checkpoint_save(path, src, NULL, NULL) == WG_OK &&
              set_arch(path, "{\"kind\":\"mine\",\"in\":4}"),
          "write kind mine");
    m = wg_checkpoint_load_model(path);
    snprintf(msg, sizeof msg, "checkpoint_load_model: %s: unknown model kind \"mine\"", path);
    CHECK(m == NULL && strstr(wg_last_error(), msg) == wg_last_error(), "kind mine: %s",
          wg_last_error());
    wg_model_free(m);

    /* what the files hold is counted whatever their storage: h5py's
     * contiguous float64 data sets (8 bytes a value) load as they are */
    CHECK(write_plain_h5(path, src, true), "write plain f64");
    m = wg_checkpoint_load_model(path);
    CHECK(m != NULL && values_equal(m, wg_params_values(wg_model_params(src))),
          "plain float64 file: %s", m ? "values differ" : wg_last_error());
    wg_model_free(m);
    unlink(path);
    wg_model_free(src);
}

static void test_fine_tune(void)
{
    printf("== non-strict load, 10 classes into 5\n");
    char path[1100];
    in_dir("lenet10.h5", path, sizeof path);
    wg_model *src = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    CHECK(wg_checkpoint_save(path, src, NULL, NULL) == WG_OK, "save: %s", wg_last_error());

    wg_model *dst = wg_lenet5(5, WG_INIT_DEFAULT, 2);
    wg_params *D = wg_model_params(dst), *S = wg_model_params(src);
    wg_real *before = values_copy(dst);
    wg_load_report rep;
    wg_status s = wg_checkpoint_load(path, dst, NULL, NULL, false, &rep);
    CHECK(s == WG_OK, "non-strict: %s", wg_last_error());
    printf("  loaded %d, missing %d, unexpected %d, mismatched %d: %s\n", rep.loaded,
           rep.missing, rep.unexpected, rep.mismatched, rep.detail);
    CHECK(rep.loaded == 8 && rep.mismatched == 2 && rep.missing == 0 && rep.unexpected == 0,
          "report %d/%d/%d/%d", rep.loaded, rep.missing, rep.unexpected, rep.mismatched);
    CHECK(strstr(rep.detail, "fc3.weight") && strstr(rep.detail, "fc3.bias"), "detail: %s",
          rep.detail);
    CHECK(strstr(rep.detail, "[10 x 84]") && strstr(rep.detail, "[5 x 84]"),
          "detail has the shapes: %s", rep.detail);
    CHECK(strstr(rep.detail, "[10]") && strstr(rep.detail, "[5]"), "bias shapes: %s",
          rep.detail);
    int64_t off = 0;
    for (int i = 0; i < wg_params_count(D); i++) {
        wg_tensor *t = wg_params_at(D, i);
        size_t nb = (size_t)wg_numel(t) * sizeof(wg_real);
        if (!strncmp(wg_name(t), "fc3.", 4)) {
            CHECK(memcmp(wg_data(t), before + off, nb) == 0, "%s unchanged", wg_name(t));
        } else {
            wg_tensor *o = wg_params_find(S, wg_name(t));
            CHECK(o && memcmp(wg_data(t), wg_data(o), nb) == 0, "%s loaded", wg_name(t));
        }
        off += wg_numel(t);
    }

    /* strict: an error, and nothing changed */
    wg_model *dst2 = wg_lenet5(5, WG_INIT_DEFAULT, 3);
    victim v = { dst2, NULL, NULL };
    expect_fail("strict, 10 classes into 5", path, &v, true, WG_EFORMAT, "fc3.weight");

    /* NULL report is fine */
    wg_model *dst3 = wg_lenet5(5, WG_INIT_DEFAULT, 4);
    CHECK(wg_checkpoint_load(path, dst3, NULL, NULL, false, NULL) == WG_OK, "NULL report");

    /* a model with an extra head: unexpected and missing names */
    wg_model *sm = wg_softmax_regression(784, 10, WG_INIT_DEFAULT, 5);
    wg_real *smb = values_copy(sm);
    s = wg_checkpoint_load(path, sm, NULL, NULL, false, &rep);
    printf("  softmax model from a LeNet file: %s %s\n", wg_strerror(s), s ? wg_last_error() : rep.detail);
    CHECK(s == WG_EFORMAT && values_equal(sm, smb), "nothing in common: an error, unchanged");
    free(smb);

    wg_model_free(sm);
    wg_model_free(dst3);
    wg_model_free(dst2);
    free(before);
    wg_model_free(dst);
    wg_model_free(src);
    unlink(path);
}

/* ------------------------------------------------------------------------ */
/* 5. failed saves                                                           */

static void expect_intact(const char *what, const char *path, const wg_real *want)
{
    wg_model *m = wg_lenet5(10, WG_INIT_DEFAULT, 77);
    wg_status s = wg_checkpoint_load(path, m, NULL, NULL, true, NULL);
    CHECK(s == WG_OK, "%s: the previous checkpoint no longer loads: %s", what, wg_last_error());
    CHECK(s != WG_OK || values_equal(m, want), "%s: the previous checkpoint changed", what);
    wg_model_free(m);
}

static void expect_save_fail(const char *what, const char *path, wg_model *m, const char *needles)
{
    wg_status s = wg_checkpoint_save(path, m, NULL, NULL);
    char msg[4096];
    snprintf(msg, sizeof msg, "%s", wg_last_error());
    printf("  %-34s %-10s %s\n", what, s == WG_OK ? "OK" : wg_strerror(s), s ? msg : "");
    CHECK(s == WG_EIO, "%s: status %d (%s): %s", what, s, wg_strerror(s), msg);
    CHECK(strstr(msg, path), "%s: message does not name the path: %s", what, msg);
    CHECK(has_any(msg, needles), "%s: message does not say \"%s\": %s", what, needles, msg);
}

/* In a child that drops root (so permission checks apply): a save into a
 * read-only directory. Exit 10 on the expected WG_EIO, 77 if privileges
 * cannot be dropped. */
static int readonly_child(const char *path, wg_model *m)
{
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        return 77;
    if (access(path, R_OK) != 0)
        return 78;
    wg_status s = wg_checkpoint_save(path, m, NULL, NULL);
    fprintf(stdout, "  %-34s %-10s %s\n", "read-only dir (as nobody)",
            s == WG_OK ? "OK" : wg_strerror(s), s ? wg_last_error() : "");
    fflush(stdout);
    return s == WG_EIO && strstr(wg_last_error(), path) ? 10 : 11;
}

/* the child's report goes through a pipe: its stdout may be a file
 * already longer than the limit */
static int fsize_child(const char *path, wg_model *m, rlim_t limit, int fd)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = { limit, limit };
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 77;
    wg_status s = wg_checkpoint_save(path, m, NULL, NULL);
    char what[64];
    snprintf(what, sizeof what, "RLIMIT_FSIZE %llu", (unsigned long long)limit);
    char line[1024];
    int len = snprintf(line, sizeof line, "  %-34s %-10s %s\n", what,
                       s == WG_OK ? "OK" : wg_strerror(s), s ? wg_last_error() : "");
    if (write(fd, line, (size_t)len) != len)
        return 13;
    if (s == WG_OK)
        return 11;
    return s == WG_EIO && strstr(wg_last_error(), path) ? 10 : 12;
}

/* A real full disk: a 128 KiB tmpfs on `dir`, mounted in a mount
 * namespace of this child's own (so nothing outside sees it, and it goes
 * when the child exits). A small checkpoint fits; LeNet-5's (250 KB) does
 * not. Exit 10 when the second save fails with WG_EIO naming ENOSPC, the
 * first file still loads with its values and no temporary file is left;
 * 77 when the mount cannot be made (not root, no CAP_SYS_ADMIN). */
static int enospc_child(const char *dir, int fd)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=128k") != 0)
        return 77;
    char path[1200];
    snprintf(path, sizeof path, "%s/c.h5", dir);
    wg_model *small = make_mlp(41), *big = wg_lenet5(10, WG_INIT_DEFAULT, 42), *back = make_mlp(43);
    int rc = 10;
    wg_status s = WG_OK;
    if (wg_checkpoint_save(path, small, NULL, NULL) != WG_OK)
        rc = 13;
    else
        s = wg_checkpoint_save(path, big, NULL, NULL);
    char line[1400];
    int len = snprintf(line, sizeof line, "  %-34s %-10s %s\n", "ENOSPC (128 KiB tmpfs)",
                       s == WG_OK ? "OK" : wg_strerror(s), s ? wg_last_error() : "");
    if (rc == 10 && write(fd, line, (size_t)len) != len)
        rc = 13;
    else if (rc == 10 && s == WG_OK)
        rc = 11;
    else if (rc == 10 && (s != WG_EIO || !strstr(wg_last_error(), path) ||
                          !strstr(wg_last_error(), "No space left on device")))
        rc = 12;
    else if (rc == 10 && (wg_checkpoint_load(path, back, NULL, NULL, true, NULL) != WG_OK ||
                          !values_equal(back, wg_params_values(wg_model_params(small)))))
        rc = 14;
    else if (rc == 10 && count_tmp(dir) != 0)
        rc = 15;
    /* the child ends with exit: what it made is freed, for LeakSanitizer */
    wg_model_free(small);
    wg_model_free(big);
    wg_model_free(back);
    return rc;
}

static void test_save_errors(void)
{
    printf("== failed saves\n");
    wg_model *a = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    wg_model *b = wg_lenet5(10, WG_INIT_DEFAULT, 2);
    wg_real *va = values_copy(a);
    char path[1100], sub[1100];

    /* a missing directory */
    in_dir("no-such-dir/ckpt.h5", path, sizeof path);
    expect_save_fail("missing directory", path, b, "No such file");
    in_dir("no-such-dir", sub, sizeof sub);
    CHECK(file_size(sub) < 0, "nothing created");

    /* a read-only directory. As root, permission checks are bypassed: a
     * save into a 0555 directory would succeed. Then the parent is made a
     * regular file instead (ENOTDIR, the same early failure), and the real
     * read-only case runs in a child that drops root to nobody. */
    in_dir("ro", sub, sizeof sub);
    CHECK(mkdir(sub, 0755) == 0, "mkdir");
    in_dir("ro/ckpt.h5", path, sizeof path);
    CHECK(wg_checkpoint_save(path, a, NULL, NULL) == WG_OK, "save: %s", wg_last_error());
    chmod(path, 0644);
    CHECK(chmod(sub, 0555) == 0, "chmod");
    if (geteuid() != 0) {
        expect_save_fail("read-only directory", path, b, "Permission denied|read-only");
    } else {
        char reg[1100], p2[1200];
        in_dir("regular-file", reg, sizeof reg);
        CHECK(write_all(reg, "x", 1), "write");
        snprintf(p2, sizeof p2, "%s/ckpt.h5", reg);
        expect_save_fail("parent is a regular file (root)", p2, b, "not a directory");
        unlink(reg);
        chmod(g_dir, 0711); /* let nobody reach ro/ */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(readonly_child(path, b));
        int st = 0;
        waitpid(pid, &st, 0);
        chmod(g_dir, 0700);
        if (WIFEXITED(st) && (WEXITSTATUS(st) == 77 || WEXITSTATUS(st) == 78))
            printf("  read-only dir as nobody: cannot drop privileges here, skipped\n");
        else
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 10, "read-only child status %#x", st);
    }
    expect_intact("read-only directory", path, va);
    CHECK(count_tmp(sub) == 0, "no temporary file in ro/");
    chmod(sub, 0755);

    /* onto a directory */
    in_dir("a-directory", path, sizeof path);
    CHECK(mkdir(path, 0755) == 0, "mkdir");
    expect_save_fail("path is a directory", path, b, "directory");
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "still a directory");
    CHECK(count_tmp(path) == 0 && count_tmp(g_dir) == 0, "no temporary file");
    rmdir(path);

    /* the file-size limit (a full disk, as far as write(2) tells) */
    in_dir("big.h5", path, sizeof path);
    CHECK(wg_checkpoint_save(path, a, NULL, NULL) == WG_OK, "save: %s", wg_last_error());
    int64_t full = file_size(path);
    const rlim_t limits[] = { 100, 600, 4096, 65536, (rlim_t)full / 2, (rlim_t)full - 1 };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        int fds[2];
        CHECK(pipe(fds) == 0, "pipe");
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            /* exit, not _exit: libhdf5's clean-up at exit once crashed
             * after a save that failed this way */
            exit(fsize_child(path, b, limits[i], fds[1]));
        }
        close(fds[1]);
        char line[1024];
        ssize_t got = read(fds[0], line, sizeof line - 1);
        close(fds[0]);
        if (got > 0)
            fwrite(line, 1, (size_t)got, stdout);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 10,
              "RLIMIT_FSIZE %llu: child status %#x (10: WG_EIO, 11: saved, 12: other error)",
              (unsigned long long)limits[i], status);
        expect_intact("RLIMIT_FSIZE", path, va);
        CHECK(count_tmp(g_dir) == 0, "RLIMIT_FSIZE %llu: temporary file left behind",
              (unsigned long long)limits[i]);
    }

    /* a real full disk, where the system allows a mount */
    {
        char full[1100];
        in_dir("full", full, sizeof full);
        CHECK(mkdir(full, 0755) == 0, "mkdir");
        int fds[2];
        CHECK(pipe(fds) == 0, "pipe");
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            exit(enospc_child(full, fds[1])); /* with libhdf5's clean-up */
        }
        close(fds[1]);
        char line[1400];
        ssize_t got = read(fds[0], line, sizeof line - 1);
        close(fds[0]);
        if (got > 0)
            fwrite(line, 1, (size_t)got, stdout);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
            printf("  ENOSPC: cannot mount a tmpfs here (needs root), skipped\n");
        else
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 10,
                  "ENOSPC: child status %#x (10: WG_EIO and intact, 11: saved, 12: another "
                  "error, 14: the previous file damaged, 15: a temporary file left)",
                  status);
        rmdir(full);
    }

    /* a stale temporary file of a killed save is removed by the next save,
     * and another checkpoint's is not */
    char stale[1100], other[1100];
    in_dir("big.h5.tmp-123-0", stale, sizeof stale);
    in_dir("other.h5.tmp-123-0", other, sizeof other);
    CHECK(write_all(stale, "partial", 7) && write_all(other, "partial", 7), "write");
    CHECK(wg_checkpoint_save(path, b, NULL, NULL) == WG_OK, "save: %s", wg_last_error());
    CHECK(file_size(stale) < 0, "stale temporary file removed");
    CHECK(file_size(other) == 7, "another checkpoint's temporary file kept");
    unlink(other);
    CHECK(count_tmp(g_dir) == 0, "no temporary file");
    expect_intact("after a good save", path, wg_params_values(wg_model_params(b)));
    unlink(path);

    /* invalid arguments */
    CHECK(wg_checkpoint_save(NULL, a, NULL, NULL) == WG_EINVAL, "NULL path");
    CHECK(wg_checkpoint_save("", a, NULL, NULL) == WG_EINVAL, "empty path");
    CHECK(wg_checkpoint_save(path, NULL, NULL, NULL) == WG_EINVAL, "NULL model");
    wg_optim *ob = make_opt("sgd", wg_model_params(b));
    CHECK(wg_checkpoint_save(path, a, ob, NULL) == WG_EINVAL, "another model's optimizer");
    CHECK(file_size(path) < 0, "nothing written");
    wg_optim_free(ob);

    /* a bare file name saves into the current directory */
    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) && chdir(g_dir) == 0) {
        CHECK(wg_checkpoint_save("bare.h5", a, NULL, NULL) == WG_OK, "bare name: %s",
              wg_last_error());
        CHECK(count_tmp(".") == 0, "no temporary file");
        unlink("bare.h5");
        CHECK(chdir(cwd) == 0, "chdir back");
    }

    free(va);
    wg_model_free(a);
    wg_model_free(b);
}

/* The same model and state saved twice, seconds apart, are the same bytes:
 * no timestamps, so a checkpoint's checksum identifies its content. */
static void test_reproducible_bytes(void)
{
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/same1.h5", g_dir);
    snprintf(b, sizeof b, "%s/same2.h5", g_dir);
    wg_model *m = wg_lenet5(10, WG_INIT_DEFAULT, 3);
    wg_optim *o = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    wg_train_state ts = { .epoch = 2, .best_epoch = -1 };
    CHECK(wg_checkpoint_save(a, m, o, &ts) == WG_OK, "%s", wg_last_error());
    sleep(1);
    CHECK(wg_checkpoint_save(b, m, o, &ts) == WG_OK, "%s", wg_last_error());
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    CHECK(same, "two saves of the same state differ in their bytes");
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    wg_optim_free(o);
    wg_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "--resume-child"))
        return resume_child(argv[2], argv[3], argv[4], atoi(argv[5]));
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the test's own probes print nothing */
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/wg-ckpt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    char self[1024] = "/proc/self/exe";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = 0;

    test_round_trip();
    /* an epoch is 6 batches (5 of 8 images and one of 4): 6 and 12 steps
     * save exactly at an epoch's end, with all of it served; 4, 9 and 13
     * inside an epoch */
    test_resume("sgd", 13, self);
    test_resume("sgd", 6, self);
    test_resume("adam", 9, self);
    test_resume("adam", 12, self);
    test_resume("adamw", 4, self);
    test_failures();
    test_arch_claims();
    test_fine_tune();
    test_save_errors();
    test_reproducible_bytes();

    int left = count_tmp(g_dir);
    CHECK(left == 0, "%d temporary files left in %s", left, g_dir);
    rm_rf(g_dir);
    return check_done("test_checkpoint");
}
