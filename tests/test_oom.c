/* Out of memory, everywhere the library allocates: model creation, a
 * training step, loading a data set (zlib goes through the hook too),
 * saving and loading a checkpoint. With the k-th allocation failed, for
 * every k in turn: the call reports WG_ENOMEM (or NULL with a message),
 * nothing crashes, nothing leaks (the sanitizer build checks), and the
 * objects that existed before are still usable afterwards.
 * libhdf5's and OpenBLAS's own allocations are not ours to fail. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <wengert.h>

static long fail_at, seen, live;

static void *f_malloc(size_t n, void *ctx)
{
    (void)ctx;
    if (fail_at && ++seen == fail_at)
        return NULL;
    void *p = malloc(n);
    live += p != NULL;
    return p;
}
static void *f_realloc(void *p, size_t n, void *ctx)
{
    (void)ctx;
    if (fail_at && ++seen == fail_at)
        return NULL;
    void *q = realloc(p, n);
    live += !p && q;
    return q;
}
static void f_free(void *p, void *ctx)
{
    (void)ctx;
    live -= p != NULL;
    free(p);
}

static void arm(long k)
{
    fail_at = k;
    seen = 0;
}

/* one training step of an MLP through a model and an optimizer */
static wg_status train_step(wg_model *m, wg_optim *o, wg_tape *t, const wg_real *x,
                            const int32_t *y)
{
    wg_tensor *out = wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(8, 12)));
    wg_tensor *loss = wg_softmax_cross_entropy(t, out, y);
    wg_status s = wg_backward(t, loss);
    if (s == WG_OK)
        s = wg_optim_step(o);
    wg_tape_reset(t);
    return s;
}

static char g_dir[64];

static void test_model_creation(void)
{
    int tried = 0, failed = 0;
    for (long k = 1; k < 1000; k++) {
        arm(k);
        wg_model *m = wg_lenet5(10, WG_INIT_DEFAULT, 1);
        wg_optim *o = m ? wg_adam(wg_model_params(m), (wg_adam_opts){ .lr = 1e-3 }) : NULL;
        bool done = seen < k; /* the k-th allocation never came: all paths tried */
        arm(0);
        tried++;
        if (!m || !o) {
            failed++;
            CHECK(strstr(wg_last_error(), "out of memory") || strstr(wg_last_error(), "memory"),
                  "k=%ld: message '%s'", k, wg_last_error());
        }
        wg_optim_free(o);
        wg_model_free(m);
        if (done)
            break;
    }
    CHECK(live == 0, "model creation: %ld blocks leaked", live);
    printf("model + optimizer creation: %d allocation points failed in turn, %d failures reported\n",
           tried - 1, failed);
}

static void test_training_step(void)
{
    wg_real x[8 * 12];
    int32_t y[8];
    for (int i = 0; i < 8 * 12; i++)
        x[i] = (wg_real)((i % 7) / 7.0);
    for (int i = 0; i < 8; i++)
        y[i] = i % 3;
    int tried = 0;
    for (long k = 1; k < 1000; k++) {
        wg_model *m = wg_mlp(12, 6, 3, WG_ACT_TANH, WG_INIT_DEFAULT, 2);
        wg_optim *o = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
        wg_tape *t = wg_tape_new();
        arm(k);
        wg_status s = train_step(m, o, t, x, y);
        bool done = seen < k;
        arm(0);
        tried++;
        CHECK(s == WG_OK || s == WG_ENOMEM, "k=%ld: status %s", k, wg_strerror(s));
        /* the same objects train normally afterwards */
        s = train_step(m, o, t, x, y);
        CHECK(s == WG_OK, "k=%ld: a step after the failure: %s", k, wg_strerror(s));
        wg_tape_free(t);
        wg_optim_free(o);
        wg_model_free(m);
        if (done)
            break;
    }
    CHECK(live == 0, "training step: %ld blocks leaked", live);
    printf("training step: %d allocation points failed in turn\n", tried - 1);
}

static void write_idx(const char *path, int gz)
{
    unsigned char img[16 + 3 * 4 * 4];
    memset(img, 0, sizeof img);
    img[2] = 8, img[3] = 3, img[7] = 3, img[11] = 4, img[15] = 4;
    for (size_t i = 16; i < sizeof img; i++)
        img[i] = (unsigned char)i;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, img, sizeof img);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(img, 1, sizeof img, f);
        fclose(f);
    }
}

static void test_data_loading(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/img.gz", g_dir);
    write_idx(path, 1);
    int tried = 0;
    for (long k = 1; k < 1000; k++) {
        wg_dataset d;
        arm(k);
        wg_status s = wg_idx_load(path, NULL, &d);
        bool done = seen < k;
        arm(0);
        tried++;
        CHECK(s == WG_OK || s == WG_ENOMEM, "k=%ld: %s", k, wg_last_error());
        CHECK(s == WG_OK || (d.count == 0 && !d.images), "k=%ld: a failed load left data", k);
        if (s == WG_OK)
            CHECK(d.count == 3 && d.images[0] == 16, "k=%ld: loaded wrong", k);
        wg_dataset_free(&d);
        if (done)
            break;
    }
    CHECK(live == 0, "data loading: %ld blocks leaked", live);
    printf("gzip IDX loading: %d allocation points failed in turn\n", tried - 1);
}

static void test_checkpoints(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/m.h5", g_dir);
    wg_model *m = wg_mlp(12, 6, 3, WG_ACT_TANH, WG_INIT_DEFAULT, 3);
    wg_optim *o = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    wg_train_state ts = { .epoch = 1, .best_epoch = -1 };
    CHECK(wg_checkpoint_save(path, m, o, &ts) == WG_OK, "first save: %s", wg_last_error());
    int64_t n = wg_params_numel(wg_model_params(m));
    wg_real *before = malloc(sizeof(wg_real) * (size_t)n);
    int tried = 0;
    for (long k = 1; k < 1000; k++) {
        wg_model *m2 = wg_mlp(12, 6, 3, WG_ACT_TANH, WG_INIT_DEFAULT, 4);
        wg_optim *o2 = wg_sgd(wg_model_params(m2), (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
        memcpy(before, wg_params_values(wg_model_params(m2)), sizeof(wg_real) * (size_t)n);
        wg_train_state ts2;
        arm(k);
        wg_status sl = wg_checkpoint_load(path, m2, o2, &ts2, true, NULL);
        wg_status ss = wg_checkpoint_save(path, m, o, &ts);
        bool done = seen < k;
        arm(0);
        tried++;
        CHECK(sl == WG_OK || sl == WG_ENOMEM, "k=%ld: load %s", k, wg_last_error());
        CHECK(ss == WG_OK || ss == WG_ENOMEM || ss == WG_EIO, "k=%ld: save %s", k, wg_strerror(ss));
        if (sl != WG_OK)
            CHECK(memcmp(before, wg_params_values(wg_model_params(m2)), sizeof(wg_real) * (size_t)n) == 0,
                  "k=%ld: a failed load changed the model", k);
        /* whatever happened, the file on disk is a loadable checkpoint */
        CHECK(wg_checkpoint_load(path, m2, NULL, NULL, true, NULL) == WG_OK,
              "k=%ld: the checkpoint was damaged: %s", k, wg_last_error());
        wg_optim_free(o2);
        wg_model_free(m2);
        if (done)
            break;
    }
    free(before);
    wg_optim_free(o);
    wg_model_free(m);
    CHECK(live == 0, "checkpoints: %ld blocks leaked", live);
    printf("checkpoint load + save: %d allocation points failed in turn\n", tried - 1);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/wg-oom-XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    wg_set_num_threads(1);
    wg_set_allocator(&(wg_allocator){ f_malloc, f_realloc, f_free, NULL });
    test_model_creation();
    test_training_step();
    test_data_loading();
    test_checkpoints();
    wg_set_allocator(NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return check_done("test_oom");
}
