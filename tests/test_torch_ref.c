/* PyTorch as a second oracle: every op's output and input gradients,
 * compared with the references tools/make_torch_refs.py computed with
 * PyTorch in float64 and stored in tests/data/torch_ref.h5 (the script's
 * header describes the file's layout).
 *
 * Each case: the inputs as stored (float32) go into standalone tensors that
 * require gradients, the op runs on a fresh tape, and wg_backward_from()
 * seeds the output's gradient with the stored dy, so every input's gradient
 * is the vector-Jacobian product PyTorch computed.
 *
 * Tolerance, per element i of a reference tensor r and our result o:
 *
 *     |o_i - r_i| <= 1e-4 * |r_i| + 1e-5 * max_j |r_j|
 *
 * Correct float32 code stays near 1e-6 relative (rounding of a few ulps,
 * growing like sqrt(K) over a K-term sum); the script checks that PyTorch's
 * own float32 results use under a tenth of this. A 1% error in any element
 * at least 0.2% of its tensor's largest fails (99.7% of the nonzero
 * reference values). The second term keeps elements that cancel to near
 * zero (a dot product of mixed signs, the gradient of a saturated sigmoid)
 * from demanding more than float32 can give.
 *
 * A missing or unreadable file is a failure, not a skip: the file is part
 * of the source tree. */
#include <hdf5.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wengert.h>

#include "check.h"
#include "h5ref.h"

#define RTOL 1e-4
#define ATOL 1e-5
#define TOL_TEXT "|ours - torch| <= 1e-4 * |torch| + 1e-5 * max|torch|"

/* failing elements printed per tensor before the summary line */
#define MAX_REPORTED 5

#define MAX_INPUTS 3

#ifdef WG_DOUBLE
#define H5T_NATIVE_REAL H5T_NATIVE_DOUBLE
#else
#define H5T_NATIVE_REAL H5T_NATIVE_FLOAT
#endif

/* Every op must have at least one case, so a file that lost some is caught. */
static const char *const all_ops[] = {
    "matmul", "matmul_nt", "matmul_tn", "add", "sub", "mul", "sum", "mean", "sigmoid",
    "tanh", "relu", "conv2d", "maxpool2d", "softmax_cross_entropy", "mse", "reshape", "flatten",
    "leaky_relu", "dropout",
};
#define N_OPS ((int)(sizeof all_ops / sizeof all_ops[0]))

static bool read_int_attr(hid_t obj, const char *name, int *out)
{
    return read_attr(obj, name, H5T_NATIVE_INT, out, 1);
}

static bool shape_eq(wg_shape a, wg_shape b)
{
    if (a.ndim != b.ndim)
        return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.dim[i] != b.dim[i])
            return false;
    return true;
}

/* Compares `ours` (shape `our_shape`) with dataset `what` of the case, the
 * reference, under the tolerance stated at the top. */
static void compare(hid_t g, const char *cname, const char *what, const wg_real *ours,
                    wg_shape our_shape)
{
    char sa[96], sb[96];
    array ref;
    if (!read_array(g, what, H5T_NATIVE_DOUBLE, sizeof(double), &ref)) {
        CHECK(false, "%s: dataset %s is missing or unreadable", cname, what);
        return;
    }
    bool same = shape_eq(our_shape, ref.shape);
    CHECK(same, "%s: %s: our shape %s, torch's %s", cname, what,
          wg_shape_str(our_shape, sa, sizeof sa), wg_shape_str(ref.shape, sb, sizeof sb));
    CHECK(ours != NULL, "%s: %s: we have no values (NULL)", cname, what);
    if (!same || !ours) {
        array_free(&ref);
        return;
    }
    const double *r = ref.v;
    double scale = 0;
    for (int64_t i = 0; i < ref.n; i++)
        scale = fmax(scale, fabs(r[i]));
    int64_t bad = 0, worst = -1;
    double worst_ratio = 0;
    for (int64_t i = 0; i < ref.n; i++) {
        double o = (double)ours[i], err = fabs(o - r[i]);
        double tol = RTOL * fabs(r[i]) + ATOL * scale;
        if (err <= tol) /* false for a NaN */
            continue;
        double ratio = tol > 0 ? err / tol : HUGE_VAL;
        if (bad == 0 || ratio > worst_ratio || ratio != ratio) {
            worst = i;
            worst_ratio = ratio;
        }
        if (bad < MAX_REPORTED)
            fprintf(stderr, "  %s: %s%s: ours %.9g, torch %.9g (diff %.3g, tol %.3g)\n", cname, what,
                    index_str(ref.shape, i, sa, sizeof sa), o, r[i], err, tol);
        bad++;
    }
    CHECK(bad == 0,
          "%s: %s: %" PRId64 " of %" PRId64 " elements outside " TOL_TEXT
          "; worst at %s: ours %.9g, torch %.9g",
          cname, what, bad, ref.n, worst >= 0 ? index_str(ref.shape, worst, sa, sizeof sa) : "-",
          worst >= 0 ? (double)ours[worst] : 0.0, worst >= 0 ? r[worst] : 0.0);
    array_free(&ref);
}

/* The attributes of conv2d, as the C API takes them. */
static bool conv_opts(hid_t g, wg_conv2d_opts *o)
{
    return read_int_attr(g, "stride_h", &o->stride_h) && read_int_attr(g, "stride_w", &o->stride_w) &&
           read_int_attr(g, "pad_top", &o->pad_top) &&
           read_int_attr(g, "pad_bottom", &o->pad_bottom) &&
           read_int_attr(g, "pad_left", &o->pad_left) && read_int_attr(g, "pad_right", &o->pad_right);
}

/* Runs the op of case `cname` on the tape, or returns NULL after recording
 * why it could not (a malformed case). */
static wg_tensor *run_op(wg_tape *t, hid_t g, const char *cname, const char *op, wg_tensor **in,
                         int n_in, const int32_t *labels)
{
    static const struct {
        const char *name;
        wg_tensor *(*fn)(wg_tape *, wg_tensor *, wg_tensor *);
    } binary[] = {
        { "matmul", wg_matmul }, { "matmul_nt", wg_matmul_nt }, { "matmul_tn", wg_matmul_tn },
        { "add", wg_add },       { "sub", wg_sub },             { "mul", wg_mul },
        { "mse", wg_mse },
    };
    static const struct {
        const char *name;
        wg_tensor *(*fn)(wg_tape *, wg_tensor *);
    } unary[] = {
        { "sum", wg_sum },   { "mean", wg_mean }, { "sigmoid", wg_sigmoid },
        { "tanh", wg_tanh }, { "relu", wg_relu }, { "flatten", wg_flatten },
    };
    for (size_t i = 0; i < sizeof binary / sizeof binary[0]; i++) {
        if (strcmp(op, binary[i].name) == 0) {
            CHECK(n_in == 2, "%s: %s takes 2 inputs, the file has %d", cname, op, n_in);
            return n_in == 2 ? binary[i].fn(t, in[0], in[1]) : NULL;
        }
    }
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        if (strcmp(op, unary[i].name) == 0) {
            CHECK(n_in == 1, "%s: %s takes 1 input, the file has %d", cname, op, n_in);
            return n_in == 1 ? unary[i].fn(t, in[0]) : NULL;
        }
    }
    if (strcmp(op, "leaky_relu") == 0) {
        double slope;
        bool ok = read_attr(g, "slope", H5T_NATIVE_DOUBLE, &slope, 1);
        CHECK(ok && n_in == 1, "%s: leaky_relu needs attribute slope and 1 input", cname);
        return ok && n_in == 1 ? wg_leaky_relu(t, in[0], slope) : NULL;
    }
    if (strcmp(op, "dropout") == 0) {
        double p;
        int seed;
        bool ok = read_attr(g, "p", H5T_NATIVE_DOUBLE, &p, 1) && read_int_attr(g, "seed", &seed);
        CHECK(ok && n_in == 1, "%s: dropout needs attributes p, seed and 1 input", cname);
        wg_rng r = wg_rng_seed((uint64_t)seed);
        return ok && n_in == 1 ? wg_dropout(t, in[0], p, true, &r) : NULL;
    }
    if (strcmp(op, "conv2d") == 0) {
        wg_conv2d_opts o;
        bool ok = conv_opts(g, &o);
        CHECK(ok, "%s: conv2d attributes (stride_h, ..., pad_right) missing", cname);
        CHECK(n_in == 2 || n_in == 3, "%s: conv2d takes 2 or 3 inputs, the file has %d", cname,
              n_in);
        if (!ok || (n_in != 2 && n_in != 3))
            return NULL;
        return wg_conv2d_ex(t, in[0], in[1], n_in == 3 ? in[2] : NULL, o);
    }
    if (strcmp(op, "maxpool2d") == 0) {
        int kh, kw, sh, sw;
        bool ok = read_int_attr(g, "kh", &kh) && read_int_attr(g, "kw", &kw) &&
                  read_int_attr(g, "stride_h", &sh) && read_int_attr(g, "stride_w", &sw);
        CHECK(ok, "%s: maxpool2d attributes (kh, kw, stride_h, stride_w) missing", cname);
        CHECK(n_in == 1, "%s: maxpool2d takes 1 input, the file has %d", cname, n_in);
        return ok && n_in == 1 ? wg_maxpool2d_ex(t, in[0], kh, kw, sh, sw) : NULL;
    }
    if (strcmp(op, "softmax_cross_entropy") == 0) {
        CHECK(n_in == 1, "%s: softmax_cross_entropy takes 1 input, the file has %d", cname, n_in);
        CHECK(labels != NULL, "%s: dataset labels is missing or unreadable", cname);
        return n_in == 1 && labels ? wg_softmax_cross_entropy(t, in[0], labels) : NULL;
    }
    if (strcmp(op, "reshape") == 0) {
        int64_t dims[WG_MAX_DIMS];
        wg_shape s = { .ndim = 0 };
        bool ok = false;
        if (H5Aexists(g, "shape") > 0) {
            hid_t a = H5Aopen(g, "shape", H5P_DEFAULT);
            hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
            hssize_t nd = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
            if (nd >= 1 && nd <= WG_MAX_DIMS && H5Aread(a, H5T_NATIVE_INT64, dims) >= 0) {
                s.ndim = (int)nd;
                for (int i = 0; i < s.ndim; i++)
                    s.dim[i] = dims[i];
                ok = true;
            }
            if (sp >= 0)
                H5Sclose(sp);
            if (a >= 0)
                H5Aclose(a);
        }
        CHECK(ok, "%s: reshape attribute shape missing or unreadable", cname);
        CHECK(n_in == 1, "%s: reshape takes 1 input, the file has %d", cname, n_in);
        return ok && n_in == 1 ? wg_reshape(t, in[0], s) : NULL;
    }
    CHECK(false, "%s: unknown op \"%s\"", cname, op);
    return NULL;
}

/* One case: returns its op's index in all_ops, or -1. */
static int run_case(hid_t cases, const char *cname)
{
    int op_index = -1;
    hid_t g = H5Gopen2(cases, cname, H5P_DEFAULT);
    if (g < 0) {
        CHECK(false, "%s: cannot open the group", cname);
        return -1;
    }
    char op[64];
    if (!read_str_attr(g, "op", op, sizeof op)) {
        CHECK(false, "%s: string attribute op missing or unreadable", cname);
        H5Gclose(g);
        return -1;
    }
    for (int i = 0; i < N_OPS; i++)
        if (strcmp(op, all_ops[i]) == 0)
            op_index = i;

    wg_tensor *in[MAX_INPUTS] = { NULL };
    int n_in = 0;
    bool ok = true;
    for (int i = 0; i < MAX_INPUTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "in%d", i);
        if (!has_link(g, name))
            break;
        array a;
        if (!read_array(g, name, H5T_NATIVE_REAL, sizeof(wg_real), &a)) {
            CHECK(false, "%s: dataset %s unreadable", cname, name);
            ok = false;
            break;
        }
        in[i] = wg_tensor_new(a.shape, true);
        CHECK(in[i] != NULL, "%s: wg_tensor_new for %s: %s", cname, name, wg_last_error());
        if (in[i])
            memcpy(wg_data(in[i]), a.v, (size_t)a.n * sizeof(wg_real));
        array_free(&a);
        if (!in[i]) {
            ok = false;
            break;
        }
        n_in++;
    }
    CHECK(n_in > 0 || !ok, "%s: no inputs (in0)", cname);
    ok = ok && n_in > 0;

    array labels = { .v = NULL }, dy = { .v = NULL };
    if (ok && has_link(g, "labels"))
        read_array(g, "labels", H5T_NATIVE_INT32, sizeof(int32_t), &labels);

    wg_tape *tape = ok ? wg_tape_new() : NULL;
    CHECK(!ok || tape, "%s: wg_tape_new: %s", cname, wg_last_error());
    wg_tensor *y = tape ? run_op(tape, g, cname, op, in, n_in, labels.v) : NULL;
    if (y && wg_tape_status(tape) != WG_OK) {
        CHECK(false, "%s: %s failed: %s", cname, op, wg_tape_error(tape));
        y = NULL;
    }
    if (y) {
        compare(g, cname, "out", wg_data(y), wg_shape_of(y));
        if (has_link(g, "probs")) {
            wg_tensor *p = wg_softmax_cross_entropy_probs(y);
            CHECK(p != NULL, "%s: wg_softmax_cross_entropy_probs returned NULL", cname);
            if (p)
                compare(g, cname, "probs", wg_data(p), wg_shape_of(p));
        }
        if (!read_array(g, "dy", H5T_NATIVE_REAL, sizeof(wg_real), &dy)) {
            CHECK(false, "%s: dataset dy missing or unreadable", cname);
        } else if (dy.n != wg_numel(y)) {
            CHECK(false, "%s: dy has %" PRId64 " values, the output %" PRId64, cname, dy.n,
                  wg_numel(y));
        } else {
            wg_status s = wg_backward_from(tape, y, dy.v);
            CHECK(s == WG_OK, "%s: wg_backward_from: %s: %s", cname, wg_strerror(s),
                  wg_tape_error(tape));
            for (int i = 0; s == WG_OK && i < n_in; i++) {
                char name[32];
                snprintf(name, sizeof name, "grad_in%d", i);
                compare(g, cname, name, wg_grad(in[i]), wg_shape_of(in[i]));
            }
        }
    }
    array_free(&dy);
    array_free(&labels);
    wg_tape_free(tape);
    for (int i = 0; i < MAX_INPUTS; i++)
        wg_tensor_free(in[i]);
    H5Gclose(g);
    return op_index;
}

static void run_file(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        CHECK(false, "cannot open %s (regenerate it with tools/make_torch_refs.py)", path);
        return;
    }
    char format[64];
    bool fmt_ok = read_str_attr(f, "format", format, sizeof format) &&
                  strcmp(format, "wengert-torch-ref/1") == 0;
    CHECK(fmt_ok, "%s: format attribute is not \"wengert-torch-ref/1\"", path);
    int n_cases = -1;
    CHECK(read_int_attr(f, "n_cases", &n_cases), "%s: n_cases attribute missing", path);

    hid_t cases = fmt_ok ? H5Gopen2(f, "cases", H5P_DEFAULT) : H5I_INVALID_HID;
    H5G_info_t info;
    if (fmt_ok && (cases < 0 || H5Gget_info(cases, &info) < 0)) {
        CHECK(false, "%s: no /cases group", path);
    } else if (fmt_ok) {
        CHECK((hsize_t)n_cases == info.nlinks, "%s: n_cases says %d, /cases holds %llu", path,
              n_cases, (unsigned long long)info.nlinks);
        int per_op[N_OPS] = { 0 };
        for (hsize_t i = 0; i < info.nlinks; i++) {
            char name[256];
            ssize_t len = H5Lget_name_by_idx(cases, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                             sizeof name, H5P_DEFAULT);
            if (len <= 0 || (size_t)len >= sizeof name) {
                CHECK(false, "%s: name of case %llu unreadable", path, (unsigned long long)i);
                continue;
            }
            int k = run_case(cases, name);
            if (k >= 0)
                per_op[k]++;
        }
        for (int k = 0; k < N_OPS; k++)
            CHECK(per_op[k] > 0, "%s: no case for op %s", path, all_ops[k]);
        printf("test_torch_ref: %llu cases from %s\n", (unsigned long long)info.nlinks, path);
    }
    if (cases >= 0)
        H5Gclose(cases);
    H5Fclose(f);
}

int main(void)
{
    /* failures are reported here, with the case; HDF5's own stack traces
     * would only bury them */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    const char *dir = getenv("WG_TEST_DATA");
    if (!dir || !*dir)
        dir = "tests/data";
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/torch_ref.h5", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        CHECK(false, "WG_TEST_DATA is too long");
        return check_done("test_torch_ref");
    }
    run_file(path);
    /* frees HDF5's own state, so valgrind shows only what is ours */
    H5close();
    return check_done("test_torch_ref");
}
