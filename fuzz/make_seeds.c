/* Writes the fuzzers' seed corpora: small valid inputs for every target,
 * deterministic (same library, same bytes), each well under 20 KB.
 *   make fuzz-seeds         (writes $(srcdir)/fuzz/corpus)
 *   fuzz/make_seeds DIR     (writes DIR/<target>/...)
 * The committed corpus is this program's output. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <hdf5.h>
#include <zlib.h>

#include <wengert.h>

static const char *g_out;
static int g_errors;

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, detail);
    g_errors++;
}

static void mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0777);
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        fail(dir, strerror(errno));
}

static const char *path_of(const char *target, const char *name, char *buf, size_t cap)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/%s", g_out, target);
    mkdir_p(dir);
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

static void write_file(const char *target, const char *name, const void *b, size_t n)
{
    char p[4096];
    FILE *f = fopen(path_of(target, name, p, sizeof p), "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0)
        fail(p, "cannot write");
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && len > 0 && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        *n = (size_t)len;
    return b;
}

/* gzip with a fixed header (no name, no time), so the bytes are stable */
static void write_gz(const char *target, const char *name, const void *b, size_t n)
{
    unsigned char out[4096];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fail(name, "deflateInit2");
        return;
    }
    zs.next_in = (Bytef *)(uintptr_t)b;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = sizeof out;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        fail(name, "deflate");
    write_file(target, name, out, sizeof out - zs.avail_out);
    deflateEnd(&zs);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ------------------------------------------------------------------ IDX */

static void idx_seeds(void)
{
    /* three 2x2 images and their labels: the harness pairs label files
     * with three 2x2 images of its own */
    unsigned char img[16 + 12], lab[8 + 3] = { 0 };
    put_be32(img, 0x00000803u);
    put_be32(img + 4, 3);
    put_be32(img + 8, 2);
    put_be32(img + 12, 2);
    for (int i = 0; i < 12; i++)
        img[16 + i] = (unsigned char)(i * 23);
    put_be32(lab, 0x00000801u);
    put_be32(lab + 4, 3);
    lab[8] = 0;
    lab[9] = 2;
    lab[10] = 1;
    /* a 1x5x4 image too, so rows and cols differ */
    unsigned char img2[16 + 20];
    put_be32(img2, 0x00000803u);
    put_be32(img2 + 4, 1);
    put_be32(img2 + 8, 5);
    put_be32(img2 + 12, 4);
    for (int i = 0; i < 20; i++)
        img2[16 + i] = (unsigned char)(255 - 13 * i);

    write_file("idx", "images-3x2x2.idx", img, sizeof img);
    write_file("idx", "labels-3.idx", lab, sizeof lab);
    write_file("idx", "images-1x5x4.idx", img2, sizeof img2);
    write_gz("idx", "images-3x2x2.idx.gz", img, sizeof img);
    write_gz("idx", "labels-3.idx.gz", lab, sizeof lab);
    /* the gzip target compresses its input itself: plain seeds */
    write_file("idx_gz", "images-3x2x2.idx", img, sizeof img);
    write_file("idx_gz", "labels-3.idx", lab, sizeof lab);
    write_file("idx_gz", "images-1x5x4.idx", img2, sizeof img2);
}

/* ------------------------------------------------------------ HDF5 sets */

static void h5_put(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                   const void *v, bool chunked)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    if (chunked) {
        H5Pset_chunk(dcpl, rank, dims);
        H5Pset_deflate(dcpl, 6);
    }
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        fail(name, "cannot write the dataset");
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

static void h5_seed(const char *name, bool latest, bool four_d, bool chunked, hid_t label_type)
{
    char p[4096];
    path_of("h5data", name, p, sizeof p);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (latest)
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0); /* no timestamps: stable bytes */
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (f < 0) {
        fail(p, "cannot create");
        return;
    }
    unsigned char px[24];
    for (int i = 0; i < 24; i++)
        px[i] = (unsigned char)(i * 11);
    hsize_t d3[3] = { 3, 2, 2 }, d4[4] = { 2, 3, 2, 2 };
    h5_put(f, "images", H5T_STD_U8LE, four_d ? 4 : 3, four_d ? d4 : d3, px, chunked);
    if (label_type >= 0) {
        long long lab[3] = { 1, 0, 2 };
        hsize_t n = four_d ? 2 : 3;
        hid_t sp = H5Screate_simple(1, &n, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_obj_track_times(dcpl, 0);
        hid_t d = H5Dcreate2(f, "labels", label_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Pclose(dcpl);
        if (d < 0 || H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) < 0)
            fail(p, "cannot write the labels");
        if (d >= 0)
            H5Dclose(d);
        H5Sclose(sp);
    }
    H5Fclose(f);
}

static void h5data_seeds(void)
{
    h5_seed("images-3x2x2-labels-i64.h5", false, false, false, H5T_STD_I64LE);
    h5_seed("images-2x3x2x2-labels-u8-deflate-latest.h5", true, true, true, H5T_STD_U8LE);
    h5_seed("images-3x2x2-no-labels-latest.h5", true, false, false, -1);
}

/* ---------------------------------------------------------- checkpoints */

/* one optimizer step on two examples, so the optimizer has state */
static void train_step(wg_model *m, wg_optim *opt)
{
    static const wg_real x[2 * 4] = { 0.1f, -0.2f, 0.3f, 0.4f, 0.5f, 0.6f, -0.7f, 0.8f };
    static const int32_t y[2] = { 0, 1 };
    wg_tape *t = wg_tape_new();
    wg_tensor *in = wg_input(t, x, WG_SHAPE(2, 4));
    wg_tensor *loss = wg_softmax_cross_entropy(t, wg_model_forward(m, t, in), y);
    if (wg_backward(t, loss) != WG_OK || wg_optim_step(opt) != WG_OK)
        fail("train_step", wg_tape_error(t));
    wg_tape_free(t);
}

static void save(const char *name, wg_model *m, wg_optim *opt, const wg_train_state *ts)
{
    char p[4096];
    path_of("checkpoint", name, p, sizeof p);
    if (wg_checkpoint_save(p, m, opt, ts) != WG_OK)
        fail(p, wg_last_error());
}

/* copies a checkpoint into the checkpoint_crc corpus; with `strip`, also
 * into the checkpoint corpus without its user block, as the plain HDF5
 * file h5py would write (libhdf5 finds the superblock at offset 0) */
static void derive(const char *name, const char *plain_name)
{
    char p[4096];
    size_t n;
    unsigned char *b = read_file(path_of("checkpoint", name, p, sizeof p), &n);
    if (!b || n <= 512) {
        fail(p, "cannot read back");
        free(b);
        return;
    }
    write_file("checkpoint_crc", name, b, n);
    if (plain_name) {
        write_file("checkpoint", plain_name, b + 512, n - 512);
        char q[4096];
        wg_model *m = wg_checkpoint_load_model(path_of("checkpoint", plain_name, q, sizeof q));
        if (!m)
            fail(q, wg_last_error());
        wg_model_free(m);
    }
    free(b);
}


/* A checkpoint written as h5py writes one by default: no user block and
 * no CRC, the earliest HDF5 file format (no metadata checksums, so more
 * of the fuzzers' mutants get past libhdf5 into our validation), contiguous
 * datasets without Fletcher-32, variable-length strings for some
 * attributes. The loader accepts such files (docs/checkpoint-format.md). */
static void a_str(hid_t obj, const char *name, const char *v, bool vlen)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, vlen ? H5T_VARIABLE : strlen(v) + 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, vlen ? (const void *)&v : (const void *)v) < 0)
        fail(name, "cannot write the attribute");
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void a_num(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v, int n)
{
    hsize_t d = (hsize_t)n;
    hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, v) < 0)
        fail(name, "cannot write the attribute");
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
}

static void a_i64(hid_t obj, const char *name, long long v)
{
    a_num(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v, 0);
}

static void a_f64(hid_t obj, const char *name, double v)
{
    a_num(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, 0);
}

/* the groups on the way to `path`, without timestamps (stable bytes) */
static void parents(hid_t f, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = 0;
        if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
            hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
            H5Pset_obj_track_times(gcpl, 0);
            hid_t g = H5Gcreate2(f, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0)
                fail(buf, "cannot create the group");
            else
                H5Gclose(g);
            H5Pclose(gcpl);
        }
        *p = '/';
    }
}

static void d_f32(hid_t f, const char *path, const float *v, int rank, const hsize_t *dims)
{
    parents(f, path);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, path, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        fail(path, "cannot write the dataset");
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    H5Pclose(dcpl);
}

static void h5py_style_checkpoint(const char *name)
{
    char p[4096];
    path_of("checkpoint", name, p, sizeof p);
    /* small: no 2 KB metadata blocks, small group heaps */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_meta_block_size(fapl, 0);
    H5Pset_small_data_block_size(fapl, 0);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_sym_k(fcpl, 1, 1); /* B-tree and symbol table nodes of the least size */
    H5Pset_obj_track_times(fcpl, 0);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (f < 0) {
        fail(p, "cannot create");
        return;
    }
    static const char *names[4] = { "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" };
    static const char *paths[4] = { "fc1/weight", "fc1/bias", "fc2/weight", "fc2/bias" };
    static const hsize_t dims[4][2] = { { 3, 4 }, { 3, 0 }, { 2, 3 }, { 2, 0 } };
    static const int ranks[4] = { 2, 1, 2, 1 };
    float v[12];
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    a_str(root, "format", "wengert-checkpoint", false);
    a_i64(root, "format_version", 1);
    a_str(root, "dtype", "float32", true);
    a_str(root, "layout", "pytorch", true);
    a_str(root, "producer", "fuzz/make_seeds.c (h5py-style)", true);
    a_str(root, "architecture",
          "{\"kind\":\"mlp\",\"in\":4,\"hidden\":3,\"out\":2,\"activation\":\"tanh\","
          "\"init\":\"default\"}",
          true);
    H5Gclose(root);
    for (int k = 0; k < 4; k++) {
        char dp[128];
        int n = (int)(dims[k][0] * (ranks[k] == 2 ? dims[k][1] : 1));
        for (int i = 0; i < n; i++)
            v[i] = (float)(0.1 * (i + 1) * (k % 2 ? -1 : 1));
        snprintf(dp, sizeof dp, "/model/%s", paths[k]);
        d_f32(f, dp, v, ranks[k], dims[k]);
        for (int i = 0; i < n; i++)
            v[i] = (float)(0.01 * i);
        snprintf(dp, sizeof dp, "/optimizer/state/%s/exp_avg", paths[k]);
        d_f32(f, dp, v, ranks[k], dims[k]);
        for (int i = 0; i < n; i++)
            v[i] = (float)(0.001 * i);
        snprintf(dp, sizeof dp, "/optimizer/state/%s/exp_avg_sq", paths[k]);
        d_f32(f, dp, v, ranks[k], dims[k]);
        snprintf(dp, sizeof dp, "/optimizer/state/%s", paths[k]);
        hid_t g = H5Gopen2(f, dp, H5P_DEFAULT);
        a_i64(g, "step", 1);
        H5Gclose(g);
    }
    hid_t g = H5Gopen2(f, "/model", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 11);
    char order[4][11];
    for (int k = 0; k < 4; k++)
        strncpy(order[k], names[k], sizeof order[k]);
    a_num(g, "state_dict_order", t, t, order, 4);
    H5Tclose(t);
    H5Gclose(g);
    g = H5Gopen2(f, "/optimizer", H5P_DEFAULT);
    a_str(g, "type", "adam", false);
    a_f64(g, "lr", 1e-3);
    a_i64(g, "step", 1);
    a_f64(g, "beta1", 0.9);
    a_f64(g, "beta2", 0.999);
    a_f64(g, "eps", 1e-8);
    a_f64(g, "weight_decay", 0);
    H5Gclose(g);
    parents(f, "/training/");
    g = H5Gopen2(f, "/training", H5P_DEFAULT);
    unsigned long long seed = 5, rng[4] = { 1, 2, 3, 4 };
    a_i64(g, "epoch", 1);
    a_i64(g, "global_step", 1);
    a_i64(g, "position", 2);
    a_num(g, "data_seed", H5T_STD_U64LE, H5T_NATIVE_ULLONG, &seed, 1);
    a_num(g, "rng_state", H5T_STD_U64LE, H5T_NATIVE_ULLONG, rng, 4);
    a_f64(g, "base_lr", 1e-3);
    a_i64(g, "best_epoch", -1);
    a_f64(g, "best_val_loss", 0);
    H5Gclose(g);
    H5Fclose(f);

    /* it must load, with its optimizer and training state */
    wg_model *m = wg_mlp(4, 3, 2, WG_ACT_TANH, WG_INIT_DEFAULT, 1);
    wg_optim *o = wg_adam(wg_model_params(m), (wg_adam_opts){ .lr = 1e-3 });
    wg_train_state ts;
    if (wg_checkpoint_load(p, m, o, &ts, true, NULL) != WG_OK)
        fail(p, wg_last_error());
    wg_optim_free(o);
    wg_model_free(m);
}

static void checkpoint_seeds(void)
{
    wg_model *m = wg_mlp(4, 3, 2, WG_ACT_TANH, WG_INIT_DEFAULT, 7);
    wg_optim *adam = wg_adam(wg_model_params(m), (wg_adam_opts){ .lr = 1e-3 });
    train_step(m, adam);
    wg_train_state ts = { .epoch = 1, .global_step = 1, .position = 2, .data_seed = 5,
                          .rng = *wg_model_rng(m), .base_lr = 1e-3, .best_epoch = -1,
                          .best_val_loss = 0 };
    save("mlp-4-3-2-adam-training.h5", m, adam, &ts);
    save("mlp-4-3-2.h5", m, NULL, NULL);
    wg_optim_free(adam);
    wg_model_free(m);

    m = wg_mlp(4, 3, 2, WG_ACT_RELU, WG_INIT_XAVIER, 8);
    wg_optim *sgd = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    train_step(m, sgd);
    save("mlp-4-3-2-sgd.h5", m, sgd, NULL);
    wg_optim_free(sgd);
    wg_model_free(m);

    derive("mlp-4-3-2-adam-training.h5", NULL);
    derive("mlp-4-3-2.h5", "mlp-4-3-2-plain-hdf5.h5");
    derive("mlp-4-3-2-sgd.h5", NULL);

    h5py_style_checkpoint("mlp-4-3-2-h5py-style.h5");
    derive("mlp-4-3-2-h5py-style.h5", NULL);
}

int main(int argc, char **argv)
{
    g_out = argc > 1 ? argv[1] : "fuzz/corpus";
    mkdir_p(g_out);
    idx_seeds();
    h5data_seeds();
    checkpoint_seeds();
    if (g_errors)
        return 1;
    printf("make_seeds: corpus written to %s\n", g_out);
    return 0;
}
