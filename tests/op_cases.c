#include "op_cases.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CASE_OF(ctx) ((const op_case *)(ctx))

static wg_tensor *f_matmul(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    (void)n;
    switch (CASE_OF(ctx)->hp[0]) {
    case 1: return wg_matmul_nt(t, x[0], x[1]);
    case 2: return wg_matmul_tn(t, x[0], x[1]);
    default: return wg_matmul(t, x[0], x[1]);
    }
}
static wg_tensor *f_add(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_add(t, x[0], x[1]); }
static wg_tensor *f_sub(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_sub(t, x[0], x[1]); }
static wg_tensor *f_mul(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_mul(t, x[0], x[1]); }
static wg_tensor *f_sum(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_sum(t, x[0]); }
static wg_tensor *f_mean(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_mean(t, x[0]); }
static wg_tensor *f_sigmoid(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_sigmoid(t, x[0]); }
static wg_tensor *f_tanh(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_tanh(t, x[0]); }
static wg_tensor *f_relu(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_relu(t, x[0]); }
static wg_tensor *f_mse(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_mse(t, x[0], x[1]); }
static wg_tensor *f_flatten(wg_tape *t, wg_tensor *const *x, int n, void *c) { (void)n; (void)c; return wg_flatten(t, x[0]); }

static wg_tensor *f_reshape(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    (void)n;
    const op_case *c = CASE_OF(ctx);
    return wg_reshape(t, x[0], WG_SHAPE(c->hp[0], c->hp[1]));
}

static wg_tensor *f_conv2d(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    const int *h = CASE_OF(ctx)->hp;
    return wg_conv2d_ex(t, x[0], x[1], n > 2 ? x[2] : NULL,
                        (wg_conv2d_opts){ h[0], h[1], h[2], h[3], h[4], h[5] });
}

static wg_tensor *f_maxpool(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    (void)n;
    const int *h = CASE_OF(ctx)->hp;
    return wg_maxpool2d_ex(t, x[0], h[0], h[1], h[2], h[3]);
}

/* The same ops on an intermediate (an identity reshape of the input): its
 * gradient buffer is fresh when the op's backward reaches it, so the
 * op's store form runs (wg_in_grad_dst) instead of the add form. */
static wg_tensor *f_conv2d_mid(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    wg_tensor *in[3] = { wg_reshape(t, x[0], wg_shape_of(x[0])), x[1], n > 2 ? x[2] : NULL };
    return f_conv2d(t, in, n, ctx);
}

static wg_tensor *f_maxpool_mid(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    wg_tensor *in[1] = { wg_reshape(t, x[0], wg_shape_of(x[0])) };
    return f_maxpool(t, in, n, ctx);
}

static const int32_t sce_labels[6] = { 2, 0, 4, 1, 3, 2 };
static wg_tensor *f_sce(wg_tape *t, wg_tensor *const *x, int n, void *c)
{
    (void)n;
    (void)c;
    return wg_softmax_cross_entropy(t, x[0], sce_labels);
}

static wg_tensor *f_leaky(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    (void)n;
    return wg_leaky_relu(t, x[0], CASE_OF(ctx)->hp[0] / 100.0);
}

/* the mask is fixed: every evaluation draws it from the same seed */
static wg_tensor *f_dropout(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    (void)n;
    wg_rng r = wg_rng_seed((uint64_t)CASE_OF(ctx)->hp[1]);
    return wg_dropout(t, x[0], CASE_OF(ctx)->hp[0] / 100.0, true, &r);
}

/* A custom op, y = x^3, through the public extension interface. */
static wg_status cube_fwd(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)n;
    (void)ctx;
    const wg_real *x = wg_data(in[0]);
    for (int64_t i = 0; i < wg_numel(out); i++)
        wg_data(out)[i] = x[i] * x[i] * x[i];
    return WG_OK;
}
static wg_status cube_bwd(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)n;
    (void)ctx;
    const wg_real *x = wg_data(in[0]), *dy = wg_grad(out);
    wg_real *dx = wg_grad(in[0]);
    if (dx)
        for (int64_t i = 0; i < wg_numel(out); i++)
            dx[i] += 3 * x[i] * x[i] * dy[i];
    return WG_OK;
}
static const wg_custom_op cube_op = { "cube", cube_fwd, cube_bwd };
static wg_tensor *f_custom(wg_tape *t, wg_tensor *const *x, int n, void *c)
{
    (void)n;
    (void)c;
    return wg_custom(t, &cube_op, x, 1, wg_shape_of(x[0]), NULL);
}

/* A tensor used twice and several ops chained: gradients must accumulate.
 * tanh(x W^T + b) * x[:, :3] ... kept simple: mul(x, x) + sigmoid(x). */
static wg_tensor *f_reuse(wg_tape *t, wg_tensor *const *x, int n, void *c)
{
    (void)n;
    (void)c;
    return wg_add(t, wg_mul(t, x[0], x[0]), wg_sigmoid(t, x[0]));
}

/* An intermediate h consumed by many ops: the first backward to reach its
 * gradient buffer stores into it, the later ones add (wg_in_grad_dst), so
 * every op's store and add forms meet here, and a broadcast operand that is
 * itself an intermediate (tanh(x1), summed over rows) starts from zero. */
static wg_tensor *f_reuse_mid(wg_tape *t, wg_tensor *const *x, int n, void *c)
{
    (void)n;
    (void)c;
    wg_tensor *h = wg_tanh(t, x[0]), *r = wg_tanh(t, x[1]);
    wg_tensor *flat = wg_reshape(t, wg_reshape(t, h, WG_SHAPE(-1)), wg_shape_of(h));
    wg_tensor *s = wg_add(t, wg_relu(t, h), wg_sigmoid(t, h));
    s = wg_add(t, s, wg_mul(t, h, h));
    s = wg_add(t, s, wg_matmul(t, h, x[2]));
    s = wg_add(t, s, flat);
    s = wg_sub(t, s, wg_leaky_relu(t, h, 0.1));
    return wg_add(t, wg_add(t, s, r), wg_matmul_nt(t, x[2], h));
}

#define S WG_SHAPE
const op_case op_cases[] = {
    { "matmul [3x4]@[4x5]", "matmul", 2, { S(3, 4), S(4, 5) }, INIT_UNIFORM, f_matmul, { 0 }, 0, 0 },
    { "matmul_nt [3x4]@[5x4]T", "matmul", 2, { S(3, 4), S(5, 4) }, INIT_UNIFORM, f_matmul, { 1 }, 0, 0 },
    { "matmul_tn [4x3]T@[4x5]", "matmul", 2, { S(4, 3), S(4, 5) }, INIT_UNIFORM, f_matmul, { 2 }, 0, 0 },
    /* above 2^21 multiply-adds with a side above the 1024 tile: tiled */
    { "matmul tiled [1100x8]@[8x300]", "matmul", 2, { S(1100, 8), S(8, 300) }, INIT_UNIFORM, f_matmul, { 0 }, 40, 1e-3 },
    { "matmul_nt tiled [300x8]@[1100x8]T", "matmul", 2, { S(300, 8), S(1100, 8) }, INIT_UNIFORM, f_matmul, { 1 }, 40, 1e-3 },
    { "matmul_tn tiled [8x1100]T@[8x300]", "matmul", 2, { S(8, 1100), S(8, 300) }, INIT_UNIFORM, f_matmul, { 2 }, 40, 1e-3 },
    { "add same shape", "add", 2, { S(3, 4), S(3, 4) }, INIT_UNIFORM, f_add, { 0 }, 0, 0 },
    { "add row bias [4x5]+[5]", "add", 2, { S(4, 5), S(5) }, INIT_UNIFORM, f_add, { 0 }, 0, 0 },
    { "add channel bias [2x3x4x5]+[3x1x1]", "add", 2, { S(2, 3, 4, 5), S(3, 1, 1) }, INIT_UNIFORM, f_add, { 0 }, 0, 0 },
    { "add both broadcast [4x1]+[1x5]", "add", 2, { S(4, 1), S(1, 5) }, INIT_UNIFORM, f_add, { 0 }, 0, 0 },
    { "sub first broadcast [5]-[4x5]", "sub", 2, { S(5), S(4, 5) }, INIT_UNIFORM, f_sub, { 0 }, 0, 0 },
    { "sub channel bias [2x3x2x2]-[3x1x1]", "sub", 2, { S(2, 3, 2, 2), S(3, 1, 1) }, INIT_UNIFORM, f_sub, { 0 }, 0, 0 },
    { "mul same shape", "mul", 2, { S(3, 4), S(3, 4) }, INIT_UNIFORM, f_mul, { 0 }, 0, 0 },
    { "mul both broadcast [4x1]*[1x5]", "mul", 2, { S(4, 1), S(1, 5) }, INIT_UNIFORM, f_mul, { 0 }, 0, 0 },
    { "mul channel [2x3x4x5]*[3x1x1]", "mul", 2, { S(2, 3, 4, 5), S(3, 1, 1) }, INIT_UNIFORM, f_mul, { 0 }, 0, 0 },
    { "sum [3x4x5]", "sum", 1, { S(3, 4, 5) }, INIT_UNIFORM, f_sum, { 0 }, 0, 0 },
    { "mean [2x3x4]", "mean", 1, { S(2, 3, 4) }, INIT_UNIFORM, f_mean, { 0 }, 0, 0 },
    { "sigmoid [3x7]", "sigmoid", 1, { S(3, 7) }, INIT_UNIFORM, f_sigmoid, { 0 }, 0, 0 },
    { "tanh [3x7]", "tanh", 1, { S(3, 7) }, INIT_UNIFORM, f_tanh, { 0 }, 0, 0 },
    { "relu [3x7]", "relu", 1, { S(3, 7) }, INIT_AWAY0, f_relu, { 0 }, 0, 0 },
    /* conv2d: hp = stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right.
     * Stride-1 cases run ops/conv2d_direct.c where the CPU has AVX2 (its
     * forward, input- and weight-gradient kernels; "13 -> 18 channels" splits
     * them into blocks), strided ones ops/conv2d_gemm.c; tests/cpu_paths.sh
     * runs every case again with WG_CPU=avx2 and WG_CPU=generic, the latter
     * sending the stride-1 cases through conv2d_gemm.c's wide layout too. */
    { "conv2d s1 p0 kernel 3x2 on 7x6", "conv2d", 3, { S(2, 3, 7, 6), S(4, 3, 3, 2), S(4) }, INIT_UNIFORM, f_conv2d, { 1, 1, 0, 0, 0, 0 }, 0, 0 },
    { "conv2d s2 p1", "conv2d", 3, { S(2, 3, 7, 6), S(4, 3, 3, 2), S(4) }, INIT_UNIFORM, f_conv2d, { 2, 2, 1, 1, 1, 1 }, 0, 0 },
    { "conv2d s1 p2 kernel 3x3", "conv2d", 3, { S(2, 2, 5, 4), S(3, 2, 3, 3), S(3) }, INIT_UNIFORM, f_conv2d, { 1, 1, 2, 2, 2, 2 }, 0, 0 },
    { "conv2d s2 p2 kernel 5x5", "conv2d", 3, { S(2, 2, 6, 7), S(3, 2, 5, 5), S(3) }, INIT_UNIFORM, f_conv2d, { 2, 2, 2, 2, 2, 2 }, 0, 0 },
    { "conv2d stride 2x1, padding 1,0,2,1", "conv2d", 3, { S(2, 2, 5, 6), S(3, 2, 2, 3), S(3) }, INIT_UNIFORM, f_conv2d, { 2, 1, 1, 0, 2, 1 }, 0, 0 },
    { "conv2d no bias", "conv2d", 2, { S(3, 2, 5, 5), S(2, 2, 3, 3) }, INIT_UNIFORM, f_conv2d, { 1, 1, 1, 1, 1, 1 }, 0, 0 },
    { "conv2d batch 9 (several weight-gradient chunks)", "conv2d", 3, { S(9, 1, 6, 6), S(2, 1, 3, 3), S(2) }, INIT_UNIFORM, f_conv2d, { 1, 1, 0, 0, 0, 0 }, 60, 0 },
    { "conv2d batch 10: chunks of 3, 3, 3, 1 images, stride 1x2, padded", "conv2d", 3, { S(10, 2, 5, 4), S(3, 2, 3, 2), S(3) }, INIT_UNIFORM, f_conv2d, { 1, 2, 1, 0, 1, 1 }, 60, 0 },
    { "conv2d batch 10, stride 1 (wide columns), padding 2,0,1,2", "conv2d", 3, { S(10, 2, 5, 4), S(3, 2, 3, 2), S(3) }, INIT_UNIFORM, f_conv2d, { 1, 1, 2, 0, 1, 2 }, 60, 0 },
    { "conv2d 13 -> 18 channels (direct kernels in several blocks)", "conv2d", 3, { S(2, 13, 5, 4), S(18, 13, 2, 3), S(18) }, INIT_UNIFORM, f_conv2d, { 1, 1, 1, 0, 1, 1 }, 60, 0 },
    { "conv2d s1 on an intermediate", "conv2d", 3, { S(2, 3, 7, 6), S(4, 3, 3, 2), S(4) }, INIT_UNIFORM, f_conv2d_mid, { 1, 1, 1, 0, 0, 1 }, 0, 0 },
    { "conv2d s2 p1 on an intermediate", "conv2d", 3, { S(2, 3, 7, 6), S(4, 3, 3, 2), S(4) }, INIT_UNIFORM, f_conv2d_mid, { 2, 2, 1, 1, 1, 1 }, 0, 0 },
    /* maxpool2d: hp = kh, kw, stride_h, stride_w */
    { "maxpool2d k2 s2", "maxpool2d", 1, { S(2, 3, 6, 6) }, INIT_DISTINCT, f_maxpool, { 2, 2, 2, 2 }, 0, 0 },
    { "maxpool2d k2 s2, rows of 9 windows (vector path)", "maxpool2d", 1, { S(2, 2, 4, 18) }, INIT_DISTINCT, f_maxpool, { 2, 2, 2, 2 }, 0, 0 },
    { "maxpool2d k3 s2 (odd size, floor)", "maxpool2d", 1, { S(2, 2, 7, 8) }, INIT_DISTINCT, f_maxpool, { 3, 3, 2, 2 }, 0, 0 },
    { "maxpool2d k3 s1 (overlapping)", "maxpool2d", 1, { S(1, 2, 5, 6) }, INIT_DISTINCT, f_maxpool, { 3, 3, 1, 1 }, 0, 0 },
    { "maxpool2d k2x3 s1x2", "maxpool2d", 1, { S(2, 2, 5, 7) }, INIT_DISTINCT, f_maxpool, { 2, 3, 1, 2 }, 0, 0 },
    { "maxpool2d k2 s2 on an intermediate", "maxpool2d", 1, { S(2, 3, 6, 6) }, INIT_DISTINCT, f_maxpool_mid, { 2, 2, 2, 2 }, 0, 0 },
    { "maxpool2d k3 s1 on an intermediate", "maxpool2d", 1, { S(1, 2, 5, 6) }, INIT_DISTINCT, f_maxpool_mid, { 3, 3, 1, 1 }, 0, 0 },
    { "softmax_cross_entropy [6x5]", "softmax_cross_entropy", 1, { S(6, 5) }, INIT_UNIFORM, f_sce, { 0 }, 0, 0 },
    { "mse [3x4] both inputs", "mse", 2, { S(3, 4), S(3, 4) }, INIT_UNIFORM, f_mse, { 0 }, 0, 0 },
    { "reshape [2x3x4] to [4x-1]", "reshape", 1, { S(2, 3, 4) }, INIT_UNIFORM, f_reshape, { 4, -1 }, 0, 0 },
    { "flatten [2x3x2x2]", "reshape", 1, { S(2, 3, 2, 2) }, INIT_UNIFORM, f_flatten, { 0 }, 0, 0 },
    { "leaky_relu slope 0.1", "leaky_relu", 1, { S(3, 7) }, INIT_AWAY0, f_leaky, { 10 }, 0, 0 },
    { "leaky_relu slope -0.3", "leaky_relu", 1, { S(2, 2, 5) }, INIT_AWAY0, f_leaky, { -30 }, 0, 0 },
    { "dropout p 0.5, mask fixed", "dropout", 1, { S(4, 6) }, INIT_UNIFORM, f_dropout, { 50, 7 }, 0, 0 },
    { "dropout p 0.2 on NCHW", "dropout", 1, { S(2, 3, 2, 2) }, INIT_UNIFORM, f_dropout, { 20, 8 }, 0, 0 },
    { "custom cube", "custom", 1, { S(3, 4) }, INIT_UNIFORM, f_custom, { 0 }, 0, 0 },
    { "reuse: x*x + sigmoid(x)", "mul", 1, { S(3, 4) }, INIT_UNIFORM, f_reuse, { 0 }, 0, 0 },
    { "reuse of an intermediate by 9 ops", "add", 3, { S(4, 4), S(4), S(4, 4) }, INIT_UNIFORM, f_reuse_mid, { 0 }, 0, 0 },
};
#undef S
const int n_op_cases = (int)(sizeof op_cases / sizeof op_cases[0]);

static void fill(wg_tensor *x, enum init_kind kind, wg_rng *r)
{
    wg_real *d = wg_data(x);
    int64_t n = wg_numel(x);
    for (int64_t i = 0; i < n; i++) {
        double u = wg_rng_uniform(r);
        switch (kind) {
        case INIT_UNIFORM: d[i] = (wg_real)(2 * u - 1); break;
        case INIT_AWAY0: d[i] = (wg_real)((0.1 + 0.9 * u) * (wg_rng_uniform(r) < 0.5 ? -1 : 1)); break;
        case INIT_DISTINCT: d[i] = (wg_real)(0.1 * (double)i - 0.05 * (double)n); break;
        }
    }
    if (kind == INIT_DISTINCT) /* Fisher-Yates: distinct values in random places */
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)wg_rng_below(r, (uint64_t)i + 1);
            wg_real tmp = d[i];
            d[i] = d[j];
            d[j] = tmp;
        }
}

int run_op_cases(const wg_gradcheck_opts *base, uint64_t seed)
{
    int failures = 0;
    wg_rng rng = wg_rng_seed(seed);
    for (int c = 0; c < n_op_cases; c++) {
        const op_case *oc = &op_cases[c];
        wg_tensor *in[4] = { 0 };
        for (int i = 0; i < oc->n_in; i++) {
            in[i] = wg_tensor_new(oc->shape[i], true);
            fill(in[i], oc->init, &rng);
        }
        wg_gradcheck_opts opts = *base;
        opts.max_checks = oc->max_checks;
        /* a product is linear in each input element, so a large step has
         * no truncation error and keeps the rounding of a big sum small */
        if (oc->eps > 0 && sizeof(wg_real) == sizeof(double))
            opts.eps = oc->eps;
        opts.seed = seed + (uint64_t)c;
        wg_gradcheck_report rep;
        wg_status s = wg_gradcheck(oc->fn, (void *)oc, in, oc->n_in, &opts, &rep);
        if (s != WG_OK) {
            failures++;
            fprintf(stderr, "FAIL %s (op %s): %s\n  %s\n", oc->name, oc->op, wg_strerror(s),
                    s == WG_EGRAD ? rep.message : wg_last_error());
        } else {
            printf("ok   %-48s %5d elements, worst %.3f of tolerance\n", oc->name, rep.checked,
                   rep.worst_ratio);
        }
        for (int i = 0; i < oc->n_in; i++)
            wg_tensor_free(in[i]);
    }
    /* every op of the table must have at least one case */
    for (int i = 0; i < wg_op_count(); i++) {
        bool covered = false;
        for (int c = 0; c < n_op_cases; c++)
            covered |= strcmp(op_cases[c].op, wg_op_name(i)) == 0;
        if (!covered) {
            failures++;
            fprintf(stderr, "FAIL op %s has no gradient-check case\n", wg_op_name(i));
        }
    }
    return failures;
}
