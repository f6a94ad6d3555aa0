/* Data loading: IDX files (plain and gzip) and HDF5 files written here in
 * a temporary directory, every failure class of both loaders, the seeded
 * split and views, batch conversion, and the batcher's order, resumption
 * and allocation-free steady state. The real Fashion-MNIST test set is
 * checked too when the system has it. */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include <fcntl.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wengert.h>
#include <zlib.h>

#include "check.h"

/* ------------------------------------------------------------------ */
/* A counting allocator with failure injection, installed for the whole
 * run: it shows zlib's allocations pass through the hook, that failed
 * loads leave nothing behind, and that the batcher's steady state does
 * not allocate. */

static struct {
    long calls;      /* malloc and realloc calls */
    long live;       /* blocks not yet freed */
    size_t largest;  /* the largest single request */
    long fail_in;    /* > 0: the fail_in-th call from now returns NULL */
} A;

static bool should_fail(void)
{
    return A.fail_in > 0 && --A.fail_in == 0;
}

static void *t_malloc(size_t n, void *ctx)
{
    (void)ctx;
    A.calls++;
    if (n > A.largest)
        A.largest = n;
    if (should_fail())
        return NULL;
    void *p = malloc(n);
    if (p)
        A.live++;
    return p;
}

static void *t_realloc(void *p, size_t n, void *ctx)
{
    (void)ctx;
    A.calls++;
    if (n > A.largest)
        A.largest = n;
    if (should_fail())
        return NULL;
    void *q = realloc(p, n);
    if (q && !p)
        A.live++;
    return q;
}

static void t_free(void *p, void *ctx)
{
    (void)ctx;
    if (p)
        A.live--;
    free(p);
}

/* ------------------------------------------------------------------ */
/* Files in a temporary directory, removed at the end. */

static char g_dir[64];
static char *g_files[128];
static int g_nfiles;

/* The path of `name` in the directory, recorded for removal; the string
 * lives until the end of the run. */
static const char *tpath(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    for (int i = 0; i < g_nfiles; i++)
        if (strcmp(g_files[i], p) == 0)
            return g_files[i];
    if (g_nfiles == 128) {
        fprintf(stderr, "too many test files\n");
        exit(1);
    }
    return g_files[g_nfiles++] = strdup(p);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

/* gzip in the test, through zlib's own file API; `parts` members. */
static void write_gz(const char *path, const void *data, size_t n, int parts)
{
    size_t off = 0;
    for (int m = 0; m < parts; m++) {
        size_t len = m == parts - 1 ? n - off : n / (size_t)parts;
        gzFile g = gzopen(path, m == 0 ? "wb9" : "ab9");
        CHECK(g != NULL, "gzopen %s", path);
        if (!g)
            return;
        CHECK(gzwrite(g, (const char *)data + off, (unsigned)len) == (int)len, "gzwrite");
        gzclose(g);
        off += len;
    }
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX file image: magic, dims, then `n` payload bytes; the caller frees. */
static unsigned char *idx_bytes(uint32_t magic, const uint32_t *dims, int ndims,
                                const unsigned char *payload, size_t n, size_t *total)
{
    *total = 4 + 4 * (size_t)ndims + n;
    unsigned char *p = malloc(*total);
    put_be32(p, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(p + 4 + 4 * i, dims[i]);
    if (n)
        memcpy(p + 4 + 4 * ndims, payload, n);
    return p;
}

static void write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                      const unsigned char *payload, size_t n, bool gz)
{
    size_t total;
    unsigned char *p = idx_bytes(magic, dims, ndims, payload, n, &total);
    if (gz)
        write_gz(path, p, total, 1);
    else
        write_file(path, p, total);
    free(p);
}

/* ------------------------------------------------------------------ */

static bool is_empty(const wg_dataset *d)
{
    static const wg_dataset zero;
    return memcmp(d, &zero, sizeof zero) == 0;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A failed load: a non-OK status, an empty result, nothing leaked, and a
 * message naming `file` and containing `problem`. */
static void expect_fail_idx(const char *what, const char *images, const char *labels,
                            const char *file, const char *problem, wg_status want)
{
    wg_dataset d;
    memset(&d, 0xa5, sizeof d);
    long live = A.live;
    wg_status s = wg_idx_load(images, labels, &d);
    const char *msg = wg_last_error();
    CHECK(s != WG_OK && (want == WG_OK || s == want), "%s: status %d (%s)", what, (int)s,
          wg_strerror(s));
    CHECK(is_empty(&d), "%s: output not emptied", what);
    CHECK(A.live == live, "%s: %ld blocks leaked", what, A.live - live);
    CHECK(strstr(msg, base(file)) != NULL, "%s: message does not name %s: %s", what,
          base(file), msg);
    CHECK(strstr(msg, problem) != NULL, "%s: message lacks '%s': %s", what, problem, msg);
    if (s == WG_OK)
        wg_dataset_free(&d);
}

static void expect_fail_h5(const char *what, const char *path, const char *problem)
{
    wg_dataset d;
    memset(&d, 0xa5, sizeof d);
    long live = A.live;
    wg_status s = wg_h5_dataset_load(path, &d);
    const char *msg = wg_last_error();
    CHECK(s != WG_OK, "%s: loaded", what);
    CHECK(is_empty(&d), "%s: output not emptied", what);
    CHECK(A.live == live, "%s: %ld blocks leaked", what, A.live - live);
    CHECK(strstr(msg, base(path)) != NULL, "%s: message does not name the file: %s", what, msg);
    CHECK(strstr(msg, problem) != NULL, "%s: message lacks '%s': %s", what, problem, msg);
    if (s == WG_OK)
        wg_dataset_free(&d);
}

/* ------------------------------------------------------------------ */
/* The small reference set: 6 images of 3x5 and labels with 5 classes. */

enum { N6 = 6, R6 = 3, C6 = 5 };
static unsigned char g_pix[N6 * R6 * C6];
static const unsigned char g_lab[N6] = { 0, 4, 1, 2, 4, 3 };
static const uint32_t g_idims[3] = { N6, R6, C6 };
static const uint32_t g_ldims[1] = { N6 };

static void make_reference_files(void)
{
    for (int i = 0; i < N6 * R6 * C6; i++)
        g_pix[i] = (unsigned char)(i * 37 + 11);
    write_idx(tpath("img"), 0x803, g_idims, 3, g_pix, sizeof g_pix, false);
    write_idx(tpath("lab"), 0x801, g_ldims, 1, g_lab, sizeof g_lab, false);
    write_idx(tpath("img.gz"), 0x803, g_idims, 3, g_pix, sizeof g_pix, true);
    write_idx(tpath("lab.gz"), 0x801, g_ldims, 1, g_lab, sizeof g_lab, true);
    size_t n;
    unsigned char *p = idx_bytes(0x803, g_idims, 3, g_pix, sizeof g_pix, &n);
    write_gz(tpath("img-2members.gz"), p, n, 2);
    free(p);
}

static void check_reference(const char *what, const wg_dataset *d, bool labels)
{
    CHECK(d->count == N6 && d->channels == 1 && d->rows == R6 && d->cols == C6,
          "%s: geometry %lld x %d x %d x %d", what, (long long)d->count, d->channels, d->rows,
          d->cols);
    CHECK(d->owned, "%s: not owned", what);
    CHECK(d->images && memcmp(d->images, g_pix, sizeof g_pix) == 0, "%s: pixels differ", what);
    if (!labels) {
        CHECK(d->labels == NULL && d->classes == 0, "%s: labels without a label file", what);
        return;
    }
    bool same = d->labels != NULL;
    for (int i = 0; same && i < N6; i++)
        same = d->labels[i] == g_lab[i];
    CHECK(same, "%s: labels differ", what);
    CHECK(d->classes == 5, "%s: classes %d", what, d->classes);
}

static void test_idx_good(void)
{
    static const struct { const char *img, *lab; } cases[] = {
        { "img", "lab" }, { "img.gz", "lab.gz" }, { "img", "lab.gz" },
        { "img-2members.gz", "lab" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        wg_dataset d;
        wg_status s = wg_idx_load(tpath(cases[k].img), tpath(cases[k].lab), &d);
        CHECK(s == WG_OK, "%s: %s", cases[k].img, wg_last_error());
        if (s == WG_OK)
            check_reference(cases[k].img, &d, true);
        wg_dataset_free(&d);
        CHECK(is_empty(&d), "free does not empty");
    }
    wg_dataset d;
    CHECK(wg_idx_load(tpath("img.gz"), NULL, &d) == WG_OK, "images only: %s", wg_last_error());
    check_reference("images only", &d, false);
    wg_dataset_free(&d);
}

/* Larger than the loader's first chunk, so its buffer has to grow; the
 * gzip form must see zlib's allocations pass through the hook. */
static void test_idx_large(void)
{
    enum { N = 3000, R = 28, C = 28 };
    unsigned char *pix = malloc((size_t)N * R * C);
    unsigned char lab[N];
    uint32_t x = 12345;
    for (size_t i = 0; i < (size_t)N * R * C; i++) {
        x = x * 1103515245u + 12345u;
        pix[i] = (unsigned char)((i % 7 == 0) ? x >> 24 : (i / 13) & 0xff);
    }
    for (int i = 0; i < N; i++)
        lab[i] = (unsigned char)(i % 10);
    const uint32_t id[3] = { N, R, C }, ld[1] = { N };
    write_idx(tpath("big"), 0x803, id, 3, pix, (size_t)N * R * C, false);
    write_idx(tpath("big.gz"), 0x803, id, 3, pix, (size_t)N * R * C, true);
    write_idx(tpath("biglab.gz"), 0x801, ld, 1, lab, N, true);

    long calls[2];
    for (int gz = 0; gz < 2; gz++) {
        wg_dataset d;
        long before = A.calls;
        wg_status s = wg_idx_load(tpath(gz ? "big.gz" : "big"), tpath("biglab.gz"), &d);
        calls[gz] = A.calls - before;
        CHECK(s == WG_OK, "large %d: %s", gz, wg_last_error());
        CHECK(d.count == N && d.rows == R && d.cols == C && d.classes == 10, "large geometry");
        CHECK(d.images && memcmp(d.images, pix, (size_t)N * R * C) == 0, "large pixels %d", gz);
        CHECK(d.labels && d.labels[N - 1] == (N - 1) % 10, "large labels");
        wg_dataset_free(&d);
    }
    CHECK(calls[1] > calls[0], "zlib's allocations not seen: %ld (gzip) vs %ld (plain)",
          calls[1], calls[0]);

    /* every allocation of a gzip load may fail: ENOMEM, empty, no leak */
    int failures = 0;
    for (long k = 1; k < 200; k++) {
        wg_dataset d;
        memset(&d, 0x5a, sizeof d);
        long live = A.live;
        A.fail_in = k;
        wg_status s = wg_idx_load(tpath("big.gz"), tpath("biglab.gz"), &d);
        bool fired = A.fail_in == 0;
        A.fail_in = 0;
        if (!fired) {
            CHECK(s == WG_OK, "no failure injected but: %s", wg_last_error());
            wg_dataset_free(&d);
            break;
        }
        failures++;
        CHECK(s == WG_ENOMEM, "allocation %ld failed: status %d: %s", k, (int)s,
              wg_last_error());
        CHECK(is_empty(&d), "allocation %ld failed: output not empty", k);
        CHECK(A.live == live, "allocation %ld failed: %ld blocks leaked", k, A.live - live);
    }
    CHECK(failures >= 4, "only %d allocations in a gzip load", failures);
    free(pix);
}

static void test_idx_errors(void)
{
    const char *img = tpath("img"), *lab = tpath("lab");
    size_t n;
    unsigned char *p;

    expect_fail_idx("missing", tpath("no-such-images"), NULL, "no-such-images",
                    "cannot open", WG_EIO);
    expect_fail_idx("missing labels", img, tpath("no-such-labels"), "no-such-labels",
                    "cannot open", WG_EIO);
    write_file(tpath("empty"), "", 0);
    expect_fail_idx("empty", tpath("empty"), NULL, "empty", "empty file", WG_EFORMAT);
    expect_fail_idx("directory", g_dir, NULL, base(g_dir), "read error", WG_EIO);

    expect_fail_idx("labels as images", lab, NULL, "lab", "wrong magic", WG_EFORMAT);
    expect_fail_idx("images as labels", img, img, "img", "wrong magic", WG_EFORMAT);
    write_idx(tpath("float-img"), 0xD03, g_idims, 3, g_pix, sizeof g_pix, false);
    expect_fail_idx("float images", tpath("float-img"), NULL, "float-img", "float32",
                    WG_EFORMAT);
    /* labels must be bytes, so no label can reach 256 */
    const unsigned char wide[N6 * 4] = { 0, 0, 1, 0 };
    write_idx(tpath("int32-lab"), 0xC01, g_ldims, 1, wide, sizeof wide, false);
    expect_fail_idx("int32 labels", img, tpath("int32-lab"), "int32-lab", "wrong magic",
                    WG_EFORMAT);
    write_file(tpath("text"), "hello, world\n", 13);
    expect_fail_idx("text", tpath("text"), NULL, "text", "wrong magic", WG_EFORMAT);

    const uint32_t zero_rows[3] = { N6, 0, C6 }, zero_count[1] = { 0 };
    write_idx(tpath("zero-rows"), 0x803, zero_rows, 3, NULL, 0, false);
    expect_fail_idx("zero rows", tpath("zero-rows"), NULL, "zero-rows", "zero dimension",
                    WG_EFORMAT);
    write_idx(tpath("zero-labels"), 0x801, zero_count, 1, NULL, 0, true);
    expect_fail_idx("zero labels", img, tpath("zero-labels"), "zero-labels", "zero dimension",
                    WG_EFORMAT);

    p = idx_bytes(0x803, g_idims, 3, g_pix, sizeof g_pix, &n);
    write_file(tpath("short-header"), p, 10);
    expect_fail_idx("short header", tpath("short-header"), NULL, "short-header",
                    "truncated header", WG_EFORMAT);
    write_file(tpath("truncated"), p, n - 7);
    expect_fail_idx("truncated", tpath("truncated"), NULL, "truncated",
                    "truncated: header says 6 images of 3x5 (90 bytes), file has 83", WG_EFORMAT);
    write_gz(tpath("truncated.gz"), p, n - 7, 1);
    expect_fail_idx("truncated inside gzip", tpath("truncated.gz"), NULL, "truncated.gz",
                    "file has 83 after decompression", WG_EFORMAT);
    free(p);

    unsigned char more[sizeof g_pix + 3];
    memcpy(more, g_pix, sizeof g_pix);
    memset(more + sizeof g_pix, 7, 3);
    write_idx(tpath("trailing"), 0x803, g_idims, 3, more, sizeof more, false);
    expect_fail_idx("trailing", tpath("trailing"), NULL, "trailing",
                    "trailing bytes: header says 6 images of 3x5 (90 bytes), file has 93",
                    WG_EFORMAT);
    write_idx(tpath("trailing.gz"), 0x801, g_ldims, 1, more, N6 + 1, true);
    expect_fail_idx("trailing inside gzip", img, tpath("trailing.gz"), "trailing.gz",
                    "trailing bytes", WG_EFORMAT);

    const uint32_t five[1] = { N6 - 1 };
    write_idx(tpath("five-labels"), 0x801, five, 1, g_lab, N6 - 1, false);
    expect_fail_idx("count mismatch", img, tpath("five-labels"), "five-labels",
                    "5 labels for the 6 images", WG_EFORMAT);

    /* a header asking for 100 GB: refused before anything is allocated */
    const uint32_t huge[3] = { 100000, 1000, 1000 };
    long largest = (long)A.largest;
    A.largest = 0;
    write_idx(tpath("huge"), 0x803, huge, 3, g_pix, sizeof g_pix, false);
    expect_fail_idx("huge", tpath("huge"), NULL, "huge", "allowed", WG_EFORMAT);
    /* and one asking for 3 GB of a tiny (gzip) file: memory follows the data */
    const uint32_t big[3] = { 1000000, 60, 50 };
    write_idx(tpath("liar.gz"), 0x803, big, 3, g_pix, sizeof g_pix, true);
    expect_fail_idx("liar", tpath("liar.gz"), NULL, "liar.gz", "file has 90", WG_EFORMAT);
    CHECK(A.largest <= (2u << 20), "a lying header made a %zu-byte allocation", A.largest);
    if ((long)A.largest < largest)
        A.largest = (size_t)largest;
}

/* NULL arguments: a status and the reason, never a crash; the output is
 * emptied whenever there is one */
static void test_null_arguments(void)
{
    wg_dataset d;
    memset(&d, 0xa5, sizeof d);
    wg_status s = wg_idx_load(NULL, NULL, &d);
    CHECK(s == WG_EINVAL && !strcmp(wg_last_error(), "idx_load: NULL images path") && is_empty(&d),
          "idx_load(NULL path): %d %s", (int)s, wg_last_error());
    s = wg_idx_load(tpath("img"), NULL, NULL);
    CHECK(s == WG_EINVAL && !strcmp(wg_last_error(), "idx_load: NULL output"),
          "idx_load(NULL output): %d %s", (int)s, wg_last_error());
    memset(&d, 0xa5, sizeof d);
    s = wg_h5_dataset_load(NULL, &d);
    CHECK(s == WG_EINVAL && !strcmp(wg_last_error(), "h5_dataset_load: NULL path") && is_empty(&d),
          "h5_dataset_load(NULL path): %d %s", (int)s, wg_last_error());
    s = wg_h5_dataset_load(tpath("good.h5"), NULL);
    CHECK(s == WG_EINVAL && !strcmp(wg_last_error(), "h5_dataset_load: NULL output"),
          "h5_dataset_load(NULL output): %d %s", (int)s, wg_last_error());
}

static void test_gzip_damage(void)
{
    size_t n;
    unsigned char *gz = read_all(tpath("big.gz"), &n);
    CHECK(gz && n > 1000, "big.gz");
    if (!gz)
        return;
    /* flips past the gzip header: in the first block's header, inside the
     * compressed data, in the CRC and in the length of the trailer */
    const size_t where[] = { 10, n / 10, n / 3, n / 2, 3 * n / 4, n - 7, n - 3 };
    for (size_t k = 0; k < sizeof where / sizeof where[0]; k++) {
        unsigned char *c = malloc(n);
        memcpy(c, gz, n);
        size_t at = where[k];
        c[at] ^= 0xff;
        c[at + 1] ^= 0x5a;
        write_file(tpath("corrupt.gz"), c, n);
        free(c);
        char what[64];
        snprintf(what, sizeof what, "corrupt gzip at %zu of %zu", at, n);
        expect_fail_idx(what, tpath("corrupt.gz"), NULL, "corrupt.gz", "gzip", WG_EFORMAT);
    }
    write_file(tpath("cut.gz"), gz, n / 2);
    expect_fail_idx("gzip cut in half", tpath("cut.gz"), NULL, "cut.gz",
                    "truncated gzip stream", WG_EFORMAT);
    write_file(tpath("cut.gz"), gz, n - 4);
    expect_fail_idx("gzip without its length", tpath("cut.gz"), NULL, "cut.gz",
                    "truncated gzip stream", WG_EFORMAT);
    write_file(tpath("cut.gz"), gz, 2);
    expect_fail_idx("gzip magic only", tpath("cut.gz"), NULL, "cut.gz",
                    "truncated gzip stream", WG_EFORMAT);
    unsigned char *g = malloc(n + 5);
    memcpy(g, gz, n);
    memcpy(g + n, "junk!", 5);
    write_file(tpath("junk.gz"), g, n + 5);
    expect_fail_idx("junk after gzip", tpath("junk.gz"), NULL, "junk.gz",
                    "after the end of the gzip stream", WG_EFORMAT);
    free(g);
    free(gz);
}

static void test_mnist_dir(void)
{
    /* plain t10k files, then a gzip images file next to them wins */
    mkdir(tpath("mnist"), 0700);
    write_idx(tpath("mnist/t10k-images-idx3-ubyte"), 0x803, g_idims, 3, g_pix, sizeof g_pix,
              false);
    write_idx(tpath("mnist/t10k-labels-idx1-ubyte"), 0x801, g_ldims, 1, g_lab, N6, false);
    const char *dir = tpath("mnist");
    wg_dataset d;
    CHECK(wg_mnist_load(dir, false, &d) == WG_OK, "mnist plain: %s", wg_last_error());
    check_reference("mnist plain", &d, true);
    wg_dataset_free(&d);

    unsigned char inverted[sizeof g_pix];
    for (size_t i = 0; i < sizeof g_pix; i++)
        inverted[i] = (unsigned char)(255 - g_pix[i]);
    write_idx(tpath("mnist/t10k-images-idx3-ubyte.gz"), 0x803, g_idims, 3, inverted,
              sizeof inverted, true);
    CHECK(wg_mnist_load(dir, false, &d) == WG_OK, "mnist gz: %s", wg_last_error());
    CHECK(d.images && d.images[0] == inverted[0] && d.images[89] == inverted[89],
          "the .gz file was not preferred");
    wg_dataset_free(&d);

    memset(&d, 0x11, sizeof d);
    CHECK(wg_mnist_load(dir, true, &d) != WG_OK && is_empty(&d), "no train files");
    CHECK(strstr(wg_last_error(), "train-images-idx3-ubyte") != NULL, "message: %s",
          wg_last_error());

    CHECK(strcmp(wg_data_dir("/x/y"), "/x/y") == 0, "explicit dir");
    setenv("WG_DATA_DIR", dir, 1);
    CHECK(strcmp(wg_data_dir(NULL), dir) == 0, "WG_DATA_DIR: %s", wg_data_dir(NULL));
    CHECK(wg_mnist_load(NULL, false, &d) == WG_OK && d.count == N6, "load from WG_DATA_DIR");
    wg_dataset_free(&d);
    unsetenv("WG_DATA_DIR");
    CHECK(strcmp(wg_data_dir(NULL), "/usr/share/datasets/fashion-mnist") == 0, "default: %s",
          wg_data_dir(NULL));
}

/* ------------------------------------------------------------------ */
/* HDF5 files, written with the C API. */

static void h5_put(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                   const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(ds >= 0, "create %s", name);
    if (ds >= 0 && data)
        CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, "write %s", name);
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(sp);
}

typedef struct {
    hid_t itype;        /* images' memory and file type; 0: no images */
    int irank;
    hsize_t idims[4];
    const void *images;
    hid_t ltype;        /* 0: no labels */
    int lrank;
    hsize_t ldims[2];
    const void *labels;
    bool images_group;  /* `images` is a group instead */
} h5_spec;

static const char *make_h5(const char *name, const h5_spec *s)
{
    const char *path = tpath(name);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fcreate %s", path);
    if (s->itype)
        h5_put(f, "images", s->itype, s->irank, s->idims, s->images);
    if (s->images_group)
        H5Gclose(H5Gcreate2(f, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (s->ltype)
        h5_put(f, "labels", s->ltype, s->lrank, s->ldims, s->labels);
    H5Fclose(f);
    return path;
}

static void test_h5(void)
{
    enum { N = 5 };
    uint8_t img[N * 2 * 4 * 4];
    float fimg[N * 16];
    int16_t simg[N * 16];
    int32_t lab[N] = { 3, 0, 1, 7, 2 };
    for (int i = 0; i < N * 32; i++)
        img[i] = (uint8_t)(i * 7 + 1);
    for (int i = 0; i < N * 16; i++)
        fimg[i] = (float)i, simg[i] = (int16_t)i;

    h5_spec good = { H5T_NATIVE_UINT8, 3, { N, 4, 4 }, img, H5T_NATIVE_INT32, 1, { N }, lab,
                     false };
    wg_dataset d;
    wg_status s = wg_h5_dataset_load(make_h5("good.h5", &good), &d);
    CHECK(s == WG_OK, "good.h5: %s", wg_last_error());
    CHECK(d.count == N && d.channels == 1 && d.rows == 4 && d.cols == 4 && d.owned,
          "h5 geometry");
    CHECK(d.images && memcmp(d.images, img, N * 16) == 0, "h5 pixels");
    CHECK(d.labels && d.labels[0] == 3 && d.labels[3] == 7 && d.classes == 8,
          "h5 labels, classes %d", d.classes);
    wg_dataset_free(&d);

    h5_spec nchw = { H5T_NATIVE_UINT8, 4, { N, 2, 4, 4 }, img, 0, 0, { 0 }, NULL, false };
    s = wg_h5_dataset_load(make_h5("nchw.h5", &nchw), &d);
    CHECK(s == WG_OK, "nchw.h5: %s", wg_last_error());
    CHECK(d.count == N && d.channels == 2 && d.rows == 4 && d.cols == 4, "nchw geometry");
    CHECK(d.images && memcmp(d.images, img, sizeof img) == 0, "nchw pixels");
    CHECK(d.labels == NULL && d.classes == 0, "no labels");
    wg_dataset_free(&d);

    uint8_t u8lab[N] = { 1, 1, 0, 255, 9 };
    h5_spec bytes = good;
    bytes.ltype = H5T_NATIVE_UINT8;
    bytes.labels = u8lab;
    s = wg_h5_dataset_load(make_h5("u8labels.h5", &bytes), &d);
    CHECK(s == WG_OK && d.classes == 256, "uint8 labels: %s", wg_last_error());
    wg_dataset_free(&d);

    /* libhdf5 must stay silent through every failure: stderr goes to a file */
    fflush(stderr);
    int saved = dup(2);
    int fd = open(tpath("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);

    h5_spec t = good;
    t.irank = 2, t.idims[0] = N, t.idims[1] = 16;
    expect_fail_h5("rank 2", make_h5("rank2.h5", &t), "rank 2");
    t = good;
    t.itype = H5T_NATIVE_FLOAT, t.images = fimg;
    expect_fail_h5("float images", make_h5("float.h5", &t), "32-bit floats");
    t = good;
    t.itype = H5T_NATIVE_INT16, t.images = simg;
    expect_fail_h5("int16 images", make_h5("int16.h5", &t), "signed 16-bit");
    t = good;
    t.itype = H5T_NATIVE_INT8;
    expect_fail_h5("int8 images", make_h5("int8.h5", &t), "signed 8-bit");
    t = good;
    t.itype = 0;
    expect_fail_h5("no images", make_h5("noimages.h5", &t), "no dataset 'images'");
    t.images_group = true;
    expect_fail_h5("images group", make_h5("group.h5", &t), "not a dataset");
    t = good;
    t.ldims[0] = N - 1;
    expect_fail_h5("label count", make_h5("count.h5", &t), "4 labels for 5 images");
    t = good;
    t.lrank = 2, t.ldims[0] = N, t.ldims[1] = 1;
    expect_fail_h5("labels rank 2", make_h5("lrank.h5", &t), "rank 2");
    t = good;
    t.ltype = H5T_NATIVE_FLOAT, t.labels = fimg;
    expect_fail_h5("float labels", make_h5("flab.h5", &t), "'labels' is stored as 32-bit");
    int32_t neg[N] = { 0, 1, -1, 2, 3 }, big[N] = { 0, 70000, 1, 2, 3 };
    t = good;
    t.labels = neg;
    expect_fail_h5("label -1", make_h5("neg.h5", &t), "label -1 (of image 2)");
    t.labels = big;
    expect_fail_h5("label 70000", make_h5("big.h5", &t), "label 70000");
    int64_t wide[N] = { 0, 1, 2, (int64_t)1 << 33, 3 };
    t = good;
    t.ltype = H5T_NATIVE_INT64, t.labels = wide;
    expect_fail_h5("label 2^33", make_h5("wide.h5", &t), "outside [0, 65535]");
    uint32_t uwide[N] = { 0, 1, 4000000000u, 2, 3 };
    t.ltype = H5T_NATIVE_UINT32, t.labels = uwide;
    expect_fail_h5("label 4e9", make_h5("uwide.h5", &t), "outside [0, 65535]");
    t = good;
    t.idims[1] = 0;
    t.images = NULL;
    expect_fail_h5("zero dimension", make_h5("zero.h5", &t), "zero dimension");
    expect_fail_h5("not HDF5", tpath("img"), "not an HDF5 file");
    expect_fail_h5("directory", g_dir, "cannot open as HDF5");
    size_t len = 0;
    unsigned char *whole = read_all(tpath("good.h5"), &len);
    CHECK(whole && len > 1000, "good.h5 unreadable");
    if (whole) {
        write_file(tpath("cut.h5"), whole, len / 2);
        expect_fail_h5("truncated HDF5", tpath("cut.h5"), "cut.h5");
        write_file(tpath("head.h5"), whole, 100);
        expect_fail_h5("HDF5 signature only", tpath("head.h5"), "head.h5");
        free(whole);
    }
    expect_fail_h5("missing", tpath("missing.h5"), "cannot open");

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n = 0;
    unsigned char *out = read_all(tpath("stderr.txt"), &n);
    CHECK(n == 0, "libhdf5 printed %zu bytes: %.200s", n, out ? (char *)out : "");
    free(out);
    /* every path closed every handle */
    ssize_t open_objects = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    CHECK(open_objects == 0, "%zd HDF5 objects left open", open_objects);
}

/* ------------------------------------------------------------------ */
/* Split, views, batches. Image i is 2x2 bytes starting with i, label i % 7. */

static void make_marked(wg_dataset *d, int64_t n)
{
    memset(d, 0, sizeof *d);
    d->count = n;
    d->channels = 1;
    d->rows = d->cols = 2;
    d->images = malloc((size_t)n * 4);
    d->labels = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        d->images[4 * i] = (uint8_t)i;
        d->images[4 * i + 1] = (uint8_t)(i >> 8);
        d->images[4 * i + 2] = (uint8_t)(255 - i);
        d->images[4 * i + 3] = 0;
        d->labels[i] = (int32_t)(i % 7);
    }
    d->classes = 7;
}

static void free_marked(wg_dataset *d)
{
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

static void test_split(void)
{
    enum { N = 100, V = 20 };
    wg_dataset d, e, tr, va, tr2, va2;
    make_marked(&d, N);
    make_marked(&e, N);
    CHECK(wg_dataset_split(&d, V, 5, &tr, &va) == WG_OK, "split: %s", wg_last_error());
    CHECK(tr.count == N - V && va.count == V, "split sizes %lld + %lld", (long long)tr.count,
          (long long)va.count);
    CHECK(tr.images == d.images && va.images == d.images + 4 * (N - V), "views share memory");
    CHECK(tr.labels == d.labels && va.labels == d.labels + (N - V), "label views");
    CHECK(!tr.owned && !va.owned && tr.classes == 7 && va.classes == 7, "view fields");
    CHECK(tr.rows == 2 && va.cols == 2 && va.channels == 1, "view geometry");

    int seen[N] = { 0 }, moved = 0;
    bool paired = true;
    for (int i = 0; i < N; i++) {
        int id = d.images[4 * i] | d.images[4 * i + 1] << 8;
        if (id < N)
            seen[id]++;
        moved += id != i;
        paired = paired && d.labels[i] == id % 7 && d.images[4 * i + 2] == 255 - id;
    }
    bool perm = true;
    for (int i = 0; i < N; i++)
        perm = perm && seen[i] == 1;
    CHECK(perm, "train + val is not a permutation of the original");
    CHECK(paired, "images and labels were separated");
    CHECK(moved > N / 2, "only %d of %d images moved", moved, N);

    CHECK(wg_dataset_split(&e, V, 5, &tr2, &va2) == WG_OK, "split again");
    CHECK(memcmp(d.images, e.images, N * 4) == 0, "the same seed gives a different order");
    free_marked(&e);
    make_marked(&e, N);
    CHECK(wg_dataset_split(&e, V, 6, &tr2, &va2) == WG_OK, "split seed 6");
    CHECK(memcmp(d.images, e.images, N * 4) != 0, "seeds 5 and 6 give the same order");

    /* freeing a view frees nothing (the sanitizers would see a double free) */
    wg_dataset_free(&va2);
    CHECK(is_empty(&va2), "freed view not emptied");

    CHECK(wg_dataset_split(&e, 0, 1, &tr2, &va2) == WG_OK && tr2.count == N && va2.count == 0,
          "n_val 0");
    CHECK(wg_dataset_split(&e, N, 1, &tr2, &va2) == WG_OK && tr2.count == 0 && va2.count == N,
          "n_val = count");
    CHECK(wg_dataset_split(&e, -1, 1, &tr2, &va2) == WG_EINVAL, "n_val -1");
    CHECK(wg_dataset_split(&e, N + 1, 1, &tr2, &va2) == WG_EINVAL, "n_val > count");
    CHECK(wg_dataset_split(&e, 1, 1, &e, &va2) == WG_EINVAL && e.images, "split into itself");

    wg_dataset v;
    CHECK(wg_dataset_view(&d, 10, 5, &v) == WG_OK && v.count == 5 && v.images == d.images + 40
              && v.labels == d.labels + 10 && !v.owned, "view");
    CHECK(wg_dataset_view(&d, 96, 5, &v) == WG_EINVAL, "view past the end");
    CHECK(wg_dataset_view(&d, -1, 5, &v) == WG_EINVAL, "view before the start");
    CHECK(wg_dataset_view(&d, 100, 0, &v) == WG_OK && v.count == 0, "empty view at the end");

    /* batches: pixel / 255 exactly, labels copied, index honoured */
    wg_real x[3 * 4];
    int32_t y[3];
    const int64_t idx[3] = { 7, 0, 99 };
    wg_dataset_batch(&d, idx, 3, x, y);
    bool exact = true;
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < 4; p++)
            exact = exact && x[4 * k + p] == (wg_real)d.images[4 * idx[k] + p] / (wg_real)255;
    CHECK(exact, "batch pixels are not pixel / 255");
    CHECK(y[0] == d.labels[7] && y[1] == d.labels[0] && y[2] == d.labels[99], "batch labels");
    const int64_t bad[1] = { 100 };
    wg_dataset_batch(&d, bad, 1, x, y);
    CHECK(x[0] == 0 && x[3] == 0 && y[0] == -1, "an index out of range gives zeros and -1");

    /* every byte value, in images whose length is no multiple of a vector
     * (the conversion's tail), against the division done here */
    enum { AW = 17, AH = 16 };
    static uint8_t all[2 * AH * AW];
    static wg_real xa[2 * AH * AW];
    for (int i = 0; i < 2 * AH * AW; i++)
        all[i] = (uint8_t)((i * 7) % 256); /* 7 is odd: all 256 values in each image */
    wg_dataset a = { .count = 2, .channels = 1, .rows = AH, .cols = AW, .images = all };
    wg_dataset_batch(&a, NULL, 2, xa, NULL);
    volatile wg_real divisor = 255; /* the division at run time, as rounded here */
    int wrong = 0, first = -1;
    for (int i = 0; i < 2 * AH * AW; i++)
        if (xa[i] != (wg_real)all[i] / divisor && !wrong++)
            first = i;
    CHECK(wrong == 0, "%d of %d pixels differ from byte / 255, the first byte %d: %.9g", wrong,
          2 * AH * AW, first >= 0 ? all[first] : 0, first >= 0 ? (double)xa[first] : 0.0);
    free_marked(&d);
    free_marked(&e);
}

/* ------------------------------------------------------------------ */
/* The batcher. Image i carries its id in its two bytes. */

enum { BN = 103, BB = 10 };

static int decode_id(const wg_real *x)
{
    return (int)lroundf((float)x[0] * 255.0f) + 256 * (int)lroundf((float)x[1] * 255.0f);
}

/* Runs `epochs` epochs; ids[] gets the stream, sizes[] each batch size
 * (0 where an epoch ended). Returns the number of next() calls. */
static int run(wg_batcher *b, int epochs, int *ids, int *sizes, int cap)
{
    wg_real x[BB * 2];
    int32_t y[BB];
    int calls = 0, n_ids = 0, done = 0;
    while (done < epochs && calls < cap) {
        int n = wg_batcher_next(b, x, y);
        sizes[calls++] = n;
        if (n == 0) {
            done++;
            continue;
        }
        for (int k = 0; k < n; k++) {
            int id = decode_id(x + 2 * k);
            CHECK(y[k] == id % 7, "label of image %d is %d", id, (int)y[k]);
            ids[n_ids++] = id;
        }
    }
    return calls;
}

static void test_batcher(void)
{
    wg_dataset d = { .count = BN, .channels = 1, .rows = 1, .cols = 2, .classes = 7 };
    d.images = malloc(BN * 2);
    d.labels = malloc(BN * sizeof(int32_t));
    for (int i = 0; i < BN; i++) {
        d.images[2 * i] = (uint8_t)i;
        d.images[2 * i + 1] = (uint8_t)(i >> 8);
        d.labels[i] = i % 7;
    }
    enum { E = 3, CAP = E * 12 };
    static int ids[E * BN], sizes[CAP];

    wg_batcher *b = wg_batcher_new(&d, BB, true, 7);
    CHECK(b != NULL, "batcher_new: %s", wg_last_error());
    if (!b)
        return;
    CHECK(wg_batcher_batches(b) == 11, "batches %lld", (long long)wg_batcher_batches(b));
    long calls_before = A.calls;
    int calls = run(b, E, ids, sizes, CAP);
    CHECK(A.calls == calls_before, "next() allocated %ld times", A.calls - calls_before);
    CHECK(calls == E * 12, "%d calls for %d epochs", calls, E);
    for (int e = 0; e < E; e++) {
        bool sizes_ok = sizes[12 * e + 10] == 3 && sizes[12 * e + 11] == 0;
        for (int k = 0; k < 10; k++)
            sizes_ok = sizes_ok && sizes[12 * e + k] == BB;
        CHECK(sizes_ok, "epoch %d: batch sizes are not 10 x 10, 3, 0", e);
        int seen[BN] = { 0 };
        for (int k = 0; k < BN; k++)
            seen[ids[e * BN + k]]++;
        bool once = true;
        for (int k = 0; k < BN; k++)
            once = once && seen[k] == 1;
        CHECK(once, "epoch %d does not serve every image exactly once", e);
    }
    CHECK(memcmp(ids, ids + BN, sizeof(int) * BN) != 0, "epochs 0 and 1 in the same order");
    {
        /* without somewhere to put the images there is no batch */
        int64_t e0, s0, e1, s1;
        wg_batcher_position(b, &e0, &s0);
        int32_t y[BB];
        CHECK(wg_batcher_next(b, NULL, y) == 0 && !strcmp(wg_last_error(), "batcher_next: NULL x"),
              "next with NULL x: %s", wg_last_error());
        wg_batcher_position(b, &e1, &s1);
        CHECK(e0 == e1 && s0 == s1, "a refused next moved the batcher");
    }
    CHECK(memcmp(ids + BN, ids + 2 * BN, sizeof(int) * BN) != 0, "epochs 1 and 2 alike");
    int64_t ep, served;
    wg_batcher_position(b, &ep, &served);
    CHECK(ep == E && served == 0, "position after %d epochs: %lld, %lld", E, (long long)ep,
          (long long)served);

    /* a resumed run: seek to (1, 30) reproduces the rest of the stream */
    static int ids2[E * BN], sizes2[CAP];
    wg_batcher *r = wg_batcher_new(&d, BB, true, 7);
    CHECK(wg_batcher_seek(r, 1, 30) == WG_OK, "seek");
    wg_batcher_position(r, &ep, &served);
    CHECK(ep == 1 && served == 30, "position after seek");
    calls_before = A.calls;
    run(r, 2, ids2, sizes2, CAP);
    CHECK(A.calls == calls_before, "next() after seek allocated");
    CHECK(memcmp(ids2, ids + BN + 30, sizeof(int) * (2 * BN - 30)) == 0,
          "the resumed stream differs from the uninterrupted one");
    CHECK(wg_batcher_seek(r, 0, 0) == WG_OK, "seek back");
    run(r, 1, ids2, sizes2, CAP);
    CHECK(memcmp(ids2, ids, sizeof(int) * BN) == 0, "seek back to the start differs");
    CHECK(wg_batcher_seek(r, 4, BN) == WG_OK, "seek to an epoch's end");
    wg_real x[BB * 2];
    CHECK(wg_batcher_next(r, x, NULL) == 0, "next at an epoch's end");
    wg_batcher_position(r, &ep, &served);
    CHECK(ep == 5 && served == 0, "the 0 moves to the next epoch");
    CHECK(wg_batcher_seek(r, 0, BN + 1) == WG_EINVAL, "seek past the end");
    CHECK(wg_batcher_seek(r, -1, 0) == WG_EINVAL, "seek to a negative epoch");
    wg_batcher_free(r);

    /* another seed, another order; no shuffle, the identity every epoch */
    wg_batcher *o = wg_batcher_new(&d, BB, true, 8);
    run(o, 1, ids2, sizes2, CAP);
    CHECK(memcmp(ids2, ids, sizeof(int) * BN) != 0, "seeds 7 and 8 give the same order");
    wg_batcher_free(o);
    o = wg_batcher_new(&d, BB, false, 7);
    run(o, 2, ids2, sizes2, CAP);
    bool identity = true;
    for (int k = 0; k < 2 * BN; k++)
        identity = identity && ids2[k] == k % BN;
    CHECK(identity, "unshuffled order is not the identity");
    wg_batcher_free(o);

    /* a batch larger than the data set: one batch of everything */
    o = wg_batcher_new(&d, 1000, true, 1);
    CHECK(o && wg_batcher_batches(o) == 1, "one big batch");
    wg_batcher_free(o);

    CHECK(wg_batcher_new(&d, 0, true, 1) == NULL && strstr(wg_last_error(), "batch"),
          "batch 0: %s", wg_last_error());
    CHECK(wg_batcher_new(NULL, 8, true, 1) == NULL, "NULL data set");
    wg_dataset empty = { 0 };
    CHECK(wg_batcher_new(&empty, 8, true, 1) == NULL, "empty data set");
    wg_batcher_free(b);
    free(d.images);
    free(d.labels);
}

/* ------------------------------------------------------------------ */

static void test_fashion_mnist(void)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("fashion-mnist: %s absent, part skipped\n", dir);
        return;
    }
    wg_dataset d;
    wg_status s = wg_mnist_load(dir, false, &d);
    CHECK(s == WG_OK, "fashion-mnist: %s", wg_last_error());
    if (s != WG_OK)
        return;
    CHECK(d.count == 10000 && d.channels == 1 && d.rows == 28 && d.cols == 28,
          "fashion-mnist geometry %lld x %d x %d", (long long)d.count, d.rows, d.cols);
    CHECK(d.classes == 10, "fashion-mnist classes %d", d.classes);
    CHECK(d.labels[0] == 9, "first label %d", (int)d.labels[0]);
    long hist[10] = { 0 };
    for (int64_t i = 0; i < d.count; i++)
        hist[d.labels[i] % 10]++;
    bool balanced = true;
    for (int c = 0; c < 10; c++)
        balanced = balanced && hist[c] == 1000;
    CHECK(balanced, "fashion-mnist test set is not 1000 per class");
    printf("fashion-mnist t10k: %lld images of %dx%d, %d classes, first label %d\n",
           (long long)d.count, d.rows, d.cols, d.classes, (int)d.labels[0]);
    wg_dataset_free(&d);
}

static void print_log(wg_log_level level, const char *msg, void *ctx)
{
    (void)level;
    (void)ctx;
    printf("  log: %s\n", msg);
}

int main(void)
{
    wg_allocator a = { t_malloc, t_realloc, t_free, NULL };
    wg_set_allocator(&a);
    /* WG_TEST_VERBOSE=1 shows every error message, to judge them by eye */
    if (getenv("WG_TEST_VERBOSE"))
        wg_set_log(print_log, NULL);
    snprintf(g_dir, sizeof g_dir, "%s", "/tmp/wg-test-data-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_reference_files();
    test_idx_good();
    test_idx_large();
    test_idx_errors();
    test_null_arguments();
    test_gzip_damage();
    test_mnist_dir();
    test_h5();
    test_split();
    test_batcher();
    test_fashion_mnist();
    CHECK(A.live == 0, "%ld library blocks still allocated", A.live);

    for (int i = g_nfiles - 1; i >= 0; i--) {
        if (remove(g_files[i]) != 0)
            rmdir(g_files[i]);
        free(g_files[i]);
    }
    rmdir(g_dir);
    wg_set_allocator(NULL);
    return check_done("test_data");
}
