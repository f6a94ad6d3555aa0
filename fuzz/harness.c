/* The fuzz harnesses (see harness.h). Only the public API, zlib and the
 * HDF5 C API (to count open handles) are used, so the same file builds
 * into the clang libFuzzer targets and into the gcc-built replay test. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include <wengert.h>

/* ------------------------------------------------------------------------ */
/* promises                                                                  */

static void broken(const char *what, const char *detail)
{
    fprintf(stderr, "wgfuzz: broken promise: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    fflush(stderr);
    abort();
}

#define PROMISE(cond, what)                                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            broken(what, #cond);                                               \
    } while (0)

/* With WGF_VERBOSE set, each call's outcome goes to stderr (to see how far
 * an input gets: `WGF_VERBOSE=1 fuzz/replay TARGET FILE`). */
static void note(const char *call, wg_status s)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("WGF_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "wgfuzz: %s: %s\n", call, s == WG_OK ? "ok" : wg_last_error());
}

/* A failed call leaves a message and returns a file error, never a status
 * that blames the caller. */
static void failed_cleanly(wg_status s)
{
    PROMISE(s == WG_EIO || s == WG_EFORMAT || s == WG_ENOMEM || s == WG_ENONFINITE,
            "a parser failed with an unexpected status");
    const char *msg = wg_last_error();
    PROMISE(msg && *msg, "a failure without a message");
}

/* Every HDF5 object the library opened is closed again, on every path. */
static void no_hdf5_handles(const char *who)
{
    ssize_t n = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (n != 0)
        broken("HDF5 objects left open", who);
    /* hand libhdf5's free lists back to malloc, so that an input's mallocs
     * and frees balance and libFuzzer need not scan for leaks after each */
    H5garbage_collect();
}

/* A file's sizes are claims: what the library allocates for a file is in
 * proportion to the bytes it holds (deflate expands at most about 1032:1),
 * plus room for the caller's model (LeNet-5 here). The library's
 * allocations go through a hook that records the largest request. */
static size_t g_alloc_max;

static void note_size(size_t n)
{
    if (n > g_alloc_max)
        g_alloc_max = n;
}

static void *h_malloc(size_t n, void *ctx)
{
    (void)ctx;
    note_size(n);
    return malloc(n);
}

static void *h_realloc(void *p, size_t n, void *ctx)
{
    (void)ctx;
    note_size(n);
    return realloc(p, n);
}

static void h_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

/* Starts watching: called first by every harness, before any object of
 * the library exists (the hook must be set before). */
static void watch(void)
{
    static const wg_allocator hook = { h_malloc, h_realloc, h_free, NULL };
    static bool set;
    if (!set) {
        wg_set_allocator(&hook);
        set = true;
    }
    g_alloc_max = 0;
}

static void allocations_in_proportion(size_t file_bytes)
{
    uint64_t limit = ((uint64_t)64 << 20) + (uint64_t)1100 * file_bytes;
    if (g_alloc_max > limit) {
        char b[160];
        snprintf(b, sizeof b, "%zu bytes in one allocation for a file of %zu bytes", g_alloc_max,
                 file_bytes);
        broken("an allocation out of proportion to the file", b);
    }
}

/* ------------------------------------------------------------------------ */
/* the bytes as files: the API takes paths                                   */

#define N_SLOTS 2
static char g_path[N_SLOTS][4096];
static int g_fd[N_SLOTS] = { -1, -1 };
static char g_dir[2048];

static void cleanup(void)
{
    for (int i = 0; i < N_SLOTS; i++) {
        if (g_fd[i] >= 0)
            close(g_fd[i]);
        if (g_dir[0] && g_path[i][0])
            unlink(g_path[i]);
    }
    if (g_dir[0])
        rmdir(g_dir);
}

/* A file of the process's own for slot `slot`, in a private temporary
 * directory removed at exit. (Not a memfd behind /proc/self/fd/N: libhdf5
 * 1.10.8 fails to open those.) */
static void open_slot(int slot)
{
    if (!g_dir[0]) {
        /* memory-backed where there is one: an ext4 file rewritten in
         * place is flushed to disk every time */
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
            tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(g_dir, sizeof g_dir, "%s/wgfuzz.XXXXXX", tmp);
        if (!mkdtemp(g_dir)) {
            perror("wgfuzz: mkdtemp");
            exit(2);
        }
        atexit(cleanup);
    }
    snprintf(g_path[slot], sizeof g_path[slot], "%s/slot%d", g_dir, slot);
    g_fd[slot] = open(g_path[slot], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (g_fd[slot] < 0) {
        perror("wgfuzz: open");
        exit(2);
    }
}

/* Replaces the content of slot `slot` with n bytes; returns its path. */
static const char *put(int slot, const void *data, size_t n)
{
    if (g_fd[slot] < 0)
        open_slot(slot);
    int fd = g_fd[slot];
    const unsigned char *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, p + done, n - done, (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror("wgfuzz: pwrite");
            exit(2);
        }
        done += (size_t)w;
    }
    /* cut what is left of a longer previous content (truncating to zero
     * first would make ext4 flush the file at every rewrite) */
    if (ftruncate(fd, (off_t)n) != 0) {
        perror("wgfuzz: ftruncate");
        exit(2);
    }
    return g_path[slot];
}

/* ------------------------------------------------------------------------ */
/* data sets                                                                 */

/* A loaded data set describes exactly the memory it owns; a failed load
 * leaves it empty. */
static void check_dataset(wg_dataset *d, wg_status s, bool labels, int max_classes)
{
    static const wg_dataset empty;
    if (s != WG_OK) {
        failed_cleanly(s);
        PROMISE(memcmp(d, &empty, sizeof *d) == 0, "a failed load left the data set non-empty");
        return;
    }
    PROMISE(d->count > 0 && d->channels > 0 && d->rows > 0 && d->cols > 0,
            "a loaded data set has an empty dimension");
    PROMISE(d->images != NULL && d->owned, "a loaded data set owns no images");
    uint64_t per = (uint64_t)d->channels * (uint64_t)d->rows * (uint64_t)d->cols;
    uint64_t total = per * (uint64_t)d->count;
    /* touch every byte: AddressSanitizer checks the buffer is that long */
    volatile unsigned sum = 0;
    for (uint64_t i = 0; i < total; i++)
        sum += d->images[i];
    (void)sum;
    if (labels) {
        PROMISE(d->labels != NULL, "labels were asked for and none came");
        PROMISE(d->classes >= 1 && d->classes <= max_classes, "class count out of range");
        for (int64_t i = 0; i < d->count; i++)
            PROMISE(d->labels[i] >= 0 && d->labels[i] < d->classes, "a label out of range");
    }
    /* a batch of the first images and the last one, as a trainer takes it */
    if (per <= (1u << 16)) {
        int n = d->count < 3 ? (int)d->count : 3;
        int64_t idx[3] = { 0, d->count - 1, d->count / 2 };
        wg_real *x = malloc((size_t)(per * (uint64_t)n) * sizeof *x);
        int32_t y[3];
        if (x) {
            wg_dataset_batch(d, idx, n, x, y);
            for (uint64_t i = 0; i < per * (uint64_t)n; i++)
                PROMISE(x[i] >= 0 && x[i] <= 1, "a pixel outside [0, 1]");
            for (int i = 0; i < n; i++)
                PROMISE(y[i] == (d->labels ? d->labels[idx[i]] : -1), "a batch label differs");
            free(x);
        }
    }
    wg_dataset_free(d);
    PROMISE(memcmp(d, &empty, sizeof *d) == 0, "wg_dataset_free left the data set non-empty");
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Three 2x2 images, the partner of the label files in the corpus. */
static const char *three_images(void)
{
    static const char *path;
    if (!path) {
        unsigned char b[16 + 12];
        put_be32(b, 0x00000803u);
        put_be32(b + 4, 3);
        put_be32(b + 8, 2);
        put_be32(b + 12, 2);
        for (int i = 0; i < 12; i++)
            b[16 + i] = (unsigned char)(21 * i);
        path = put(1, b, sizeof b);
    }
    return path;
}

static void idx_both_roles(const uint8_t *data, size_t size)
{
    wg_dataset d;
    const char *p = put(0, data, size);
    wg_status s = wg_idx_load(p, NULL, &d);
    note("idx_load as images", s);
    check_dataset(&d, s, false, 0);
    s = wg_idx_load(three_images(), p, &d);
    note("idx_load as labels", s);
    check_dataset(&d, s, true, 256);
}

int wgf_idx(const uint8_t *data, size_t size)
{
    watch();
    idx_both_roles(data, size);
    allocations_in_proportion(size);
    return 0;
}

/* gzip-compresses `data` as one member, or two when `size` is odd. */
static unsigned char *gzip_bytes(const uint8_t *data, size_t size, size_t *out_n)
{
    size_t cut = size & 1 ? size / 2 : size;
    size_t cap = 2 * (size + 64) + 256;
    unsigned char *out = malloc(cap);
    size_t o = 0;
    if (!out)
        return NULL;
    for (int member = 0; member < 2; member++) {
        const uint8_t *in = member ? data + cut : data;
        size_t n = member ? size - cut : cut;
        if (member && n == 0)
            break;
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            break;
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)n;
        zs.next_out = out + o;
        zs.avail_out = (uInt)(cap - o);
        int r = deflate(&zs, Z_FINISH);
        o = cap - zs.avail_out;
        deflateEnd(&zs);
        if (r != Z_STREAM_END) {
            free(out);
            return NULL;
        }
    }
    *out_n = o;
    return out;
}

int wgf_idx_gz(const uint8_t *data, size_t size)
{
    size_t n = 0;
    watch();
    unsigned char *gz = gzip_bytes(data, size, &n);
    if (gz)
        idx_both_roles(gz, n);
    free(gz);
    allocations_in_proportion(size); /* what the stream inflates to */
    return 0;
}

int wgf_h5data(const uint8_t *data, size_t size)
{
    wg_dataset d;
    watch();
    const char *p = put(0, data, size);
    wg_status s = wg_h5_dataset_load(p, &d);
    note("h5_dataset_load", s);
    no_hdf5_handles("wg_h5_dataset_load");
    check_dataset(&d, s, d.labels != NULL, 65536);
    allocations_in_proportion(size);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* checkpoints                                                               */

typedef struct {
    wg_model *m;
    wg_optim *opt;
    wg_real *before; /* the parameter values before a load */
    int64_t n;
} subject;

static subject g_adam, g_sgd, g_lenet;
static bool g_ready;
static bool g_expect_refusal; /* the file's CRC does not match: every call refuses it */

static void refused_if_stale(wg_status st)
{
    if (g_expect_refusal) {
        PROMISE(st != WG_OK, "a file whose CRC does not match was accepted");
        PROMISE(strstr(wg_last_error(), "checksum") != NULL,
                "a file whose CRC does not match was refused for another reason");
    }
}

static void make_subject(subject *s, wg_model *m, int opt_kind)
{
    if (!m)
        broken("cannot build a model", wg_last_error());
    s->m = m;
    wg_params *p = wg_model_params(m);
    if (opt_kind == 1)
        s->opt = wg_adam(p, (wg_adam_opts){ .lr = 1e-3 });
    else if (opt_kind == 2)
        s->opt = wg_sgd(p, (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    if (opt_kind && !s->opt)
        broken("cannot build an optimizer", wg_last_error());
    s->n = wg_params_numel(p);
    s->before = malloc((size_t)s->n * sizeof *s->before);
    if (!s->before)
        broken("out of memory", NULL);
}

static void setup_checkpoints(void)
{
    if (g_ready)
        return;
    /* the corpus's checkpoints are of an MLP 4->3->2 (see make_seeds.c) */
    make_subject(&g_adam, wg_mlp(4, 3, 2, WG_ACT_TANH, WG_INIT_DEFAULT, 1), 1);
    make_subject(&g_sgd, wg_mlp(4, 3, 2, WG_ACT_TANH, WG_INIT_DEFAULT, 2), 2);
    make_subject(&g_lenet, wg_lenet5(10, WG_INIT_DEFAULT, 3), 0);
    g_ready = true;
}

static void inspect_cb(const char *name, wg_shape shape, void *ctx)
{
    int *count = ctx;
    PROMISE(name && strlen(name) < 512, "inspect: a bad name");
    PROMISE(shape.ndim >= 0 && shape.ndim <= WG_MAX_DIMS, "inspect: a bad rank");
    for (int i = 0; i < shape.ndim; i++)
        PROMISE(shape.dim[i] >= 0, "inspect: a negative extent");
    ++*count;
}

/* One load into `s`: on failure the model, the optimizer and the training
 * state are exactly as they were; on success every value is finite. */
static void load_into(const char *path, subject *s, bool with_ts, bool strict)
{
    wg_params *p = wg_model_params(s->m);
    const wg_real *v = wg_params_values(p);
    memcpy(s->before, v, (size_t)s->n * sizeof *v);
    double lr = s->opt ? wg_optim_lr(s->opt) : 0;
    int64_t steps = s->opt ? wg_optim_steps(s->opt) : 0;
    wg_train_state ts, ts0;
    memset(&ts, 0x5a, sizeof ts);
    ts0 = ts;
    wg_rng rng0 = *wg_model_rng(s->m);
    wg_load_report rep;
    memset(&rep, 0x5a, sizeof rep);
    wg_status st = wg_checkpoint_load(path, s->m, s->opt, with_ts ? &ts : NULL, strict, &rep);
    note(s->opt ? "checkpoint_load into an MLP with its optimizer" : "checkpoint_load into LeNet-5",
         st);
    no_hdf5_handles("wg_checkpoint_load");
    refused_if_stale(st);
    PROMISE(memchr(rep.detail, 0, sizeof rep.detail) != NULL, "report detail not terminated");
    PROMISE(rep.loaded >= 0 && rep.missing >= 0 && rep.unexpected >= 0 && rep.mismatched >= 0,
            "negative report counts");
    if (st != WG_OK) {
        failed_cleanly(st);
        PROMISE(memcmp(s->before, v, (size_t)s->n * sizeof *v) == 0,
                "a failed load changed the parameters");
        PROMISE(memcmp(&ts, &ts0, sizeof ts) == 0, "a failed load changed the training state");
        PROMISE(memcmp(wg_model_rng(s->m), &rng0, sizeof rng0) == 0,
                "a failed load changed the model's generator");
        if (s->opt) {
            double lr1 = wg_optim_lr(s->opt);
            PROMISE(memcmp(&lr1, &lr, sizeof lr) == 0, "a failed load changed the learning rate");
            PROMISE(wg_optim_steps(s->opt) == steps, "a failed load changed the step count");
        }
        return;
    }
    PROMISE(rep.loaded > 0, "a successful load loaded nothing");
    for (int64_t i = 0; i < s->n; i++)
        PROMISE(isfinite((double)v[i]), "a loaded parameter is not finite");
    if (s->opt)
        PROMISE(wg_optim_lr(s->opt) >= 0 && wg_optim_steps(s->opt) >= 0,
                "a loaded optimizer has a negative lr or step count");
    if (with_ts)
        PROMISE(ts.epoch >= 0 && ts.global_step >= 0 && ts.position >= 0,
                "a loaded training state is negative");
}

static void checkpoint_calls(const char *path)
{
    setup_checkpoints();
    char arch[1024];
    int listed = 0;
    memset(arch, 0x5a, sizeof arch);
    wg_status st = wg_checkpoint_inspect(path, inspect_cb, &listed, arch, sizeof arch);
    note("checkpoint_inspect", st);
    no_hdf5_handles("wg_checkpoint_inspect");
    refused_if_stale(st);
    if (st != WG_OK)
        failed_cleanly(st);
    else
        PROMISE(memchr(arch, 0, sizeof arch) != NULL, "inspect: architecture not terminated");

    load_into(path, &g_adam, true, true);  /* resume: model, Adam, training state */
    load_into(path, &g_sgd, false, false); /* non-strict, with SGD's momentum */
    load_into(path, &g_lenet, false, false);
    load_into(path, &g_lenet, false, true);

    wg_model *m = wg_checkpoint_load_model(path);
    note("checkpoint_load_model", m ? WG_OK : WG_EFORMAT);
    no_hdf5_handles("wg_checkpoint_load_model");
    refused_if_stale(m ? WG_OK : WG_EFORMAT);
    if (m)
        wg_model_free(m);
    else
        PROMISE(*wg_last_error() != 0, "load_model failed without a message");
}

int wgf_checkpoint(const uint8_t *data, size_t size)
{
    watch();
    checkpoint_calls(put(0, data, size));
    allocations_in_proportion(size);
    return 0;
}

#define USERBLOCK 512

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int sealed_calls(const uint8_t *data, size_t size, uint32_t crc_xor)
{
    static const unsigned char magic[8] = { 'W', 'G', 'C', 'K', 'P', 'T', '\r', '\n' };
    bool sealed = size >= USERBLOCK && memcmp(data, magic, 8) == 0;
    size_t n = sealed ? size : size + USERBLOCK;
    unsigned char *b = calloc(n ? n : 1, 1);
    if (!b)
        return 0;
    memcpy(b + (sealed ? 0 : USERBLOCK), data, size);
    memcpy(b, magic, 8);
    put_le(b + 8, 1, 4);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), b + USERBLOCK, (uInt)(n - USERBLOCK));
    put_le(b + 12, (uint32_t)crc ^ crc_xor, 4);
    put_le(b + 16, n - USERBLOCK, 8);
    g_expect_refusal = crc_xor != 0;
    watch();
    checkpoint_calls(put(0, b, n));
    allocations_in_proportion(n);
    g_expect_refusal = false;
    free(b);
    return 0;
}

int wgf_checkpoint_crc(const uint8_t *data, size_t size)
{
    return sealed_calls(data, size, 0);
}

int wgf_checkpoint_stale_crc(const uint8_t *data, size_t size)
{
    return sealed_calls(data, size, 0x00800000u);
}

const wgf_target wgf_targets[] = {
    { "idx", wgf_idx },
    { "idx_gz", wgf_idx_gz },
    { "h5data", wgf_h5data },
    { "checkpoint", wgf_checkpoint },
    { "checkpoint_crc", wgf_checkpoint_crc },
};
const int wgf_n_targets = (int)(sizeof wgf_targets / sizeof wgf_targets[0]);
