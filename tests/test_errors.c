/* Errors are values, never crashes, and their messages are readable.
 *
 * Every failure class of the public API: shape mismatches for every op,
 * NULL arguments, out-of-range labels, bad hyperparameters, poisoning of a
 * failed tape, non-finite losses, tensors of other tapes, bad constructor
 * arguments. Each case checks the returned status, the tape's status and
 * that the message names the op and the shapes in the documented format
 * ("matmul: [64 x 784] @ [785 x 128]: inner dimensions differ"). Finally
 * the library must print nothing: errors go to the log callback only. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <wengert.h>

#include "check.h"

/* ------------------------------------------------------------------------ */
/* helpers */

static bool starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A zero-filled parameter with a fresh name: parameters belong to no tape,
 * so they can feed any tape, before and after a reset. */
static wg_tensor *P(wg_params *store, wg_shape shape)
{
    static int counter;
    char name[32];
    snprintf(name, sizeof name, "p%d", counter++);
    wg_tensor *p = wg_param(store, name, shape);
    CHECK(p != NULL, "wg_param(%s) failed: %s", name, wg_last_error());
    return p;
}

/* `y` is what an op returned on tape `t`: a non-NULL tensor, the tape
 * failed with `st`, its message starts with "op: " and contains every
 * needle. Resets the tape for the next case and checks the reset cleared
 * the error. */
static void expect_fail_at(int line, wg_tape *t, const wg_tensor *y, wg_status st,
                           const char *op, const char *const *needles)
{
    const char *msg = wg_tape_error(t);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", op);
    CHECK(y != NULL, "line %d: %s returned NULL on a non-NULL tape", line, op);
    CHECK(wg_tape_status(t) == st, "line %d: status %d (%s), expected %d (%s); message \"%s\"",
          line, (int)wg_tape_status(t), wg_strerror(wg_tape_status(t)), (int)st,
          wg_strerror(st), msg);
    CHECK(starts_with(msg, prefix), "line %d: message \"%s\" does not start with \"%s\"", line,
          msg, prefix);
    for (int i = 0; needles[i]; i++)
        CHECK(strstr(msg, needles[i]) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, msg,
              needles[i]);
    wg_tape_reset(t);
    CHECK(wg_tape_status(t) == WG_OK, "line %d: reset left status %d", line,
          (int)wg_tape_status(t));
    CHECK(strcmp(wg_tape_error(t), "") == 0, "line %d: reset left message \"%s\"", line,
          wg_tape_error(t));
}
#define EXPECT_FAIL(t, y, st, op, ...)                                                        \
    expect_fail_at(__LINE__, (t), (y), (st), (op), (const char *const[]){ __VA_ARGS__, NULL })

/* A constructor returned `p` (expected NULL) and left a message in
 * wg_last_error() that contains every needle. */
static void expect_null_at(int line, const void *p, const char *const *needles)
{
    const char *msg = wg_last_error();
    CHECK(p == NULL, "line %d: expected NULL", line);
    CHECK(msg && *msg, "line %d: wg_last_error() is empty", line);
    for (int i = 0; msg && needles[i]; i++)
        CHECK(strstr(msg, needles[i]) != NULL, "line %d: last error \"%s\" lacks \"%s\"", line,
              msg, needles[i]);
}
#define EXPECT_NULL(p, ...) expect_null_at(__LINE__, (p), (const char *const[]){ __VA_ARGS__, NULL })

/* A custom op that fills its output with zeros. */
static wg_status zero_forward(wg_tensor *const *in, int n_in, wg_tensor *out, void *ctx)
{
    (void)in;
    (void)n_in;
    (void)ctx;
    wg_real *y = wg_data(out);
    for (int64_t i = 0; i < wg_numel(out); i++)
        y[i] = 0;
    return WG_OK;
}
static wg_status failing_backward(wg_tensor *const *in, int n_in, wg_tensor *out, void *ctx)
{
    (void)in;
    (void)n_in;
    (void)out;
    (void)ctx;
    return WG_EINVAL;
}
static wg_status failing_forward(wg_tensor *const *in, int n_in, wg_tensor *out, void *ctx)
{
    (void)in;
    (void)n_in;
    (void)out;
    (void)ctx;
    return WG_ERANGE;
}

/* ------------------------------------------------------------------------ */
/* shape mismatches, op by op */

static void test_matmul_shapes(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *x = P(S, WG_SHAPE(64, 784)), *w = P(S, WG_SHAPE(785, 128));
    wg_tensor *a43 = P(S, WG_SHAPE(4, 3)), *b52 = P(S, WG_SHAPE(5, 2));
    wg_tensor *a34 = P(S, WG_SHAPE(3, 4)), *c234 = P(S, WG_SHAPE(2, 3, 4));
    wg_tensor *v4 = P(S, WG_SHAPE(4)), *m45 = P(S, WG_SHAPE(4, 5));

    /* the documented example, word for word */
    EXPECT_FAIL(t, wg_matmul(t, x, w), WG_ESHAPE, "matmul",
                "matmul: [64 x 784] @ [785 x 128]: inner dimensions differ");
    EXPECT_FAIL(t, wg_matmul(t, a43, b52), WG_ESHAPE, "matmul",
                "[4 x 3] @ [5 x 2]: inner dimensions differ");
    EXPECT_FAIL(t, wg_matmul(t, c234, m45), WG_ESHAPE, "matmul", "[2 x 3 x 4]", "[4 x 5]",
                "2-D");
    EXPECT_FAIL(t, wg_matmul(t, m45, v4), WG_ESHAPE, "matmul", "[4 x 5]", "[4]", "2-D");

    /* a Wᵀ: [4 x 3] @ [5 x 2]ᵀ, K 3 vs 2 */
    EXPECT_FAIL(t, wg_matmul_nt(t, a43, b52), WG_ESHAPE, "matmul_nt", "[4 x 3]", "[5 x 2]",
                "inner dimensions differ");
    EXPECT_FAIL(t, wg_matmul_nt(t, c234, m45), WG_ESHAPE, "matmul_nt", "[2 x 3 x 4]",
                "[4 x 5]", "2-D");
    /* aᵀ b: [3 x 4]ᵀ @ [5 x 2], K 3 vs 5 */
    EXPECT_FAIL(t, wg_matmul_tn(t, a34, b52), WG_ESHAPE, "matmul_tn", "[3 x 4]", "[5 x 2]",
                "inner dimensions differ");
    EXPECT_FAIL(t, wg_matmul_tn(t, v4, m45), WG_ESHAPE, "matmul_tn", "[4]", "[4 x 5]", "2-D");

    /* the forms that do fit leave the tape healthy */
    wg_tensor *ok1 = wg_matmul_nt(t, a43, a43);  /* [4 x 3] @ [4 x 3]ᵀ */
    wg_tensor *ok2 = wg_matmul_tn(t, a34, a34);  /* [3 x 4]ᵀ @ [3 x 4] */
    CHECK(wg_tape_status(t) == WG_OK, "fitting matmuls failed: %s", wg_tape_error(t));
    CHECK(wg_dim(ok1, 0) == 4 && wg_dim(ok1, 1) == 4, "matmul_nt shape");
    CHECK(wg_dim(ok2, 0) == 4 && wg_dim(ok2, 1) == 4, "matmul_tn shape");

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_binary_shapes(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *a = P(S, WG_SHAPE(2, 3)), *b = P(S, WG_SHAPE(4));
    wg_tensor *c = P(S, WG_SHAPE(8, 3, 5, 5)), *d = P(S, WG_SHAPE(4, 1, 1));

    EXPECT_FAIL(t, wg_add(t, a, b), WG_ESHAPE, "add", "[2 x 3] + [4]", "(3 vs 4)",
                "neither is 1");
    EXPECT_FAIL(t, wg_sub(t, a, b), WG_ESHAPE, "sub", "[2 x 3] - [4]", "(3 vs 4)");
    EXPECT_FAIL(t, wg_mul(t, a, b), WG_ESHAPE, "mul", "[2 x 3] * [4]", "(3 vs 4)");
    /* a channel bias of the wrong channel count */
    EXPECT_FAIL(t, wg_add(t, c, d), WG_ESHAPE, "add", "[8 x 3 x 5 x 5] + [4 x 1 x 1]",
                "(3 vs 4)");
    EXPECT_FAIL(t, wg_mul(t, d, c), WG_ESHAPE, "mul", "[4 x 1 x 1] * [8 x 3 x 5 x 5]",
                "(4 vs 3)");

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_conv2d(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *x = P(S, WG_SHAPE(2, 3, 8, 8)), *w = P(S, WG_SHAPE(4, 3, 3, 3));
    wg_tensor *w2 = P(S, WG_SHAPE(4, 2, 3, 3)), *b = P(S, WG_SHAPE(4)), *b5 = P(S, WG_SHAPE(5));
    wg_tensor *b41 = P(S, WG_SHAPE(4, 1)), *x2d = P(S, WG_SHAPE(2, 192));
    wg_tensor *small = P(S, WG_SHAPE(1, 3, 2, 2)), *big = P(S, WG_SHAPE(4, 3, 5, 5));

    EXPECT_FAIL(t, wg_conv2d(t, x, w2, b, 1, 0), WG_ESHAPE, "conv2d", "[2 x 3 x 8 x 8]",
                "[4 x 2 x 3 x 3]", "input has 3 channels, weight expects 2");
    EXPECT_FAIL(t, wg_conv2d(t, x2d, w, b, 1, 0), WG_ESHAPE, "conv2d", "[2 x 192]",
                "[4 x 3 x 3 x 3]", "[N x C x H x W]");
    EXPECT_FAIL(t, wg_conv2d(t, x, b, NULL, 1, 0), WG_ESHAPE, "conv2d", "[2 x 3 x 8 x 8]",
                "[4]");
    EXPECT_FAIL(t, wg_conv2d(t, x, w, b5, 1, 0), WG_ESHAPE, "conv2d", "[4 x 3 x 3 x 3]", "[5]",
                "bias must be [4]");
    EXPECT_FAIL(t, wg_conv2d(t, x, w, b41, 1, 0), WG_ESHAPE, "conv2d", "[4 x 1]",
                "bias must be [4]");
    /* 5x5 kernel over 2x2 padded by 1 on each side: 4x4 */
    EXPECT_FAIL(t, wg_conv2d(t, small, big, NULL, 1, 1), WG_ESHAPE, "conv2d", "[1 x 3 x 2 x 2]",
                "[4 x 3 x 5 x 5]", "kernel 5x5 is larger than the padded input 4x4");

    /* hyperparameters */
    EXPECT_FAIL(t, wg_conv2d(t, x, w, b, 0, 0), WG_EINVAL, "conv2d", "stride 0 x 0", ">= 1");
    EXPECT_FAIL(t, wg_conv2d(t, x, w, b, -2, 0), WG_EINVAL, "conv2d", "stride -2 x -2");
    EXPECT_FAIL(t, wg_conv2d(t, x, w, b, 1, -1), WG_EINVAL, "conv2d", "padding", "-1", ">= 0");
    EXPECT_FAIL(t,
                wg_conv2d_ex(t, x, w, b, (wg_conv2d_opts){ .stride_h = 1, .stride_w = 0 }),
                WG_EINVAL, "conv2d", "stride 1 x 0");
    EXPECT_FAIL(t,
                wg_conv2d_ex(t, x, w, b,
                             (wg_conv2d_opts){ .stride_h = 1, .stride_w = 1, .pad_right = -3 }),
                WG_EINVAL, "conv2d", "right -3");

    /* the healthy call still works on the reset tape */
    wg_tensor *y = wg_conv2d(t, x, w, b, 1, 1);
    CHECK(wg_tape_status(t) == WG_OK, "conv2d: %s", wg_tape_error(t));
    CHECK(wg_numel(y) == 2 * 4 * 8 * 8, "conv2d output numel %lld", (long long)wg_numel(y));

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_maxpool2d(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *x = P(S, WG_SHAPE(2, 3, 4, 4)), *x3 = P(S, WG_SHAPE(3, 4, 4));

    EXPECT_FAIL(t, wg_maxpool2d(t, x3, 2, 2), WG_ESHAPE, "maxpool2d", "[3 x 4 x 4]",
                "[N x C x H x W]");
    EXPECT_FAIL(t, wg_maxpool2d(t, x, 5, 1), WG_ESHAPE, "maxpool2d", "[2 x 3 x 4 x 4]",
                "kernel 5x5 is larger than the input 4x4");
    EXPECT_FAIL(t, wg_maxpool2d_ex(t, x, 2, 5, 1, 1), WG_ESHAPE, "maxpool2d", "kernel 2x5");
    EXPECT_FAIL(t, wg_maxpool2d(t, x, 0, 1), WG_EINVAL, "maxpool2d", "kernel 0x0", ">= 1");
    EXPECT_FAIL(t, wg_maxpool2d(t, x, 2, 0), WG_EINVAL, "maxpool2d", "stride 0x0", ">= 1");
    EXPECT_FAIL(t, wg_maxpool2d_ex(t, x, 2, 2, 2, -1), WG_EINVAL, "maxpool2d", "stride 2x-1");

    wg_tensor *y = wg_maxpool2d(t, x, 2, 2);
    CHECK(wg_tape_status(t) == WG_OK, "maxpool2d: %s", wg_tape_error(t));
    CHECK(wg_numel(y) == 2 * 3 * 2 * 2, "maxpool2d output numel %lld", (long long)wg_numel(y));

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_losses(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *l3 = P(S, WG_SHAPE(2, 3, 1)), *l1 = P(S, WG_SHAPE(6)), *l = P(S, WG_SHAPE(4, 3));
    wg_tensor *l0 = P(S, WG_SHAPE(0, 3));
    wg_tensor *p = P(S, WG_SHAPE(2, 3)), *q = P(S, WG_SHAPE(3, 2)), *r = P(S, WG_SHAPE(6));
    const int32_t labels[4] = { 0, 1, 2, 1 };

    /* softmax_cross_entropy: shapes */
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, l3, labels), WG_ESHAPE, "softmax_cross_entropy",
                "logits [2 x 3 x 1]", "[N x C]");
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, l1, labels), WG_ESHAPE, "softmax_cross_entropy",
                "logits [6]");
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, l0, labels), WG_ESHAPE, "softmax_cross_entropy",
                "logits [0 x 3]");
    /* NULL labels */
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, l, NULL), WG_EINVAL, "softmax_cross_entropy",
                "labels", "NULL");
    /* labels out of range: -1 and C, naming the row and the label */
    const int32_t neg[4] = { 0, 1, -1, 2 };
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, l, neg), WG_ERANGE, "softmax_cross_entropy",
                "label -1", "row 2", "[0, 3)");
    const int32_t high[4] = { 0, 3, 1, 2 };
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, l, high), WG_ERANGE, "softmax_cross_entropy",
                "label 3", "row 1", "[0, 3)");
    const int32_t huge[4] = { 0, 1, 2, INT32_MAX };
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, l, huge), WG_ERANGE, "softmax_cross_entropy",
                "label 2147483647", "row 3");

    /* mse */
    EXPECT_FAIL(t, wg_mse(t, p, q), WG_ESHAPE, "mse", "[2 x 3] vs [3 x 2]", "differ");
    EXPECT_FAIL(t, wg_mse(t, p, r), WG_ESHAPE, "mse", "[2 x 3] vs [6]");

    /* the valid forms still work after those resets */
    wg_tensor *ce = wg_softmax_cross_entropy(t, l, labels);
    wg_tensor *m = wg_mse(t, p, p);
    CHECK(wg_tape_status(t) == WG_OK, "losses: %s", wg_tape_error(t));
    CHECK_CLOSE(wg_item(ce), log(3.0), 1e-5, 1e-6, "uniform logits give log C");
    CHECK_CLOSE(wg_item(m), 0, 0, 1e-7, "mse of equal tensors");

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_reshape_flatten(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *x = P(S, WG_SHAPE(2, 3, 4));
    wg_tensor *s = P(S, WG_SCALAR);

    EXPECT_FAIL(t, wg_reshape(t, x, WG_SHAPE(5, 5)), WG_ESHAPE, "reshape",
                "[2 x 3 x 4] to [5 x 5]", "element counts differ", "24", "25");
    EXPECT_FAIL(t, wg_reshape(t, x, WG_SHAPE(-1, -1)), WG_ESHAPE, "reshape",
                "[2 x 3 x 4] to [-1 x -1]", "at most one -1");
    EXPECT_FAIL(t, wg_reshape(t, x, WG_SHAPE(-2, 12)), WG_ESHAPE, "reshape",
                "[2 x 3 x 4] to [-2 x 12]", ">= 0");
    EXPECT_FAIL(t, wg_reshape(t, x, WG_SHAPE(5, -1)), WG_ESHAPE, "reshape",
                "[2 x 3 x 4] to [5 x -1]", "24 elements");
    EXPECT_FAIL(t, wg_reshape(t, x, ((wg_shape){ 7, { 1, 1, 1, 1, 1, 1 } })), WG_ESHAPE,
                "reshape", "[2 x 3 x 4]", "rank 7");
    EXPECT_FAIL(t, wg_reshape(t, x, ((wg_shape){ -1, { 0 } })), WG_ESHAPE, "reshape", "rank -1");
    EXPECT_FAIL(t, wg_flatten(t, s), WG_ESHAPE, "flatten", "[]", "at least one dimension");

    wg_tensor *ok = wg_reshape(t, x, WG_SHAPE(4, -1));
    wg_tensor *f = wg_flatten(t, x);
    CHECK(wg_tape_status(t) == WG_OK, "reshape: %s", wg_tape_error(t));
    CHECK(wg_dim(ok, 1) == 6, "inferred extent %lld", (long long)wg_dim(ok, 1));
    CHECK(wg_dim(f, 0) == 2 && wg_dim(f, 1) == 12, "flatten shape");

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_custom_op_errors(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *in[9];
    for (int i = 0; i < 9; i++)
        in[i] = P(S, WG_SHAPE(2));
    const wg_custom_op op = { "my_op", zero_forward, NULL };
    const wg_custom_op bad = { "bad_op", failing_forward, NULL };
    const wg_custom_op nofwd = { "no_forward", NULL, NULL };

    EXPECT_FAIL(t, wg_custom(t, &op, in, 9, WG_SHAPE(2), NULL), WG_EINVAL, "my_op", "9 inputs",
                "0 to 8");
    EXPECT_FAIL(t, wg_custom(t, &op, in, -1, WG_SHAPE(2), NULL), WG_EINVAL, "my_op",
                "-1 inputs");
    EXPECT_FAIL(t, wg_custom(t, &op, NULL, 2, WG_SHAPE(2), NULL), WG_EINVAL, "my_op", "2 inputs");
    EXPECT_FAIL(t, wg_custom(t, NULL, in, 2, WG_SHAPE(2), NULL), WG_EINVAL, "custom", "NULL");
    EXPECT_FAIL(t, wg_custom(t, &nofwd, in, 2, WG_SHAPE(2), NULL), WG_EINVAL, "no_forward",
                "forward");
    wg_tensor *with_null[2] = { in[0], NULL };
    EXPECT_FAIL(t, wg_custom(t, &op, with_null, 2, WG_SHAPE(2), NULL), WG_EINVAL, "my_op",
                "input 1 is NULL");
    EXPECT_FAIL(t, wg_custom(t, &op, in, 1, WG_SHAPE(2, -1), NULL), WG_ESHAPE, "my_op",
                "[2 x -1]");
    /* a failing forward callback fails the tape with its own status */
    EXPECT_FAIL(t, wg_custom(t, &bad, in, 1, WG_SHAPE(2), NULL), WG_ERANGE, "bad_op",
                "forward callback failed");

    /* at most 8 inputs is fine; without a backward, wg_backward says so */
    wg_tensor *y = wg_custom(t, &op, in, 8, WG_SHAPE(2), NULL);
    CHECK(wg_tape_status(t) == WG_OK, "8 inputs: %s", wg_tape_error(t));
    wg_tensor *loss = wg_sum(t, y);
    wg_status st = wg_backward(t, loss);
    CHECK(st == WG_ESTATE, "backward through an op without backward: %d (%s)", (int)st,
          wg_tape_error(t));
    CHECK(strstr(wg_tape_error(t), "my_op") != NULL, "message \"%s\" names the op",
          wg_tape_error(t));
    wg_tape_reset(t);

    /* a failing backward callback fails backward with its own status */
    const wg_custom_op bad_back = { "bad_back", zero_forward, failing_backward };
    loss = wg_sum(t, wg_custom(t, &bad_back, in, 1, WG_SHAPE(2), NULL));
    st = wg_backward(t, loss);
    CHECK(st == WG_EINVAL, "backward through a failing callback: %d", (int)st);
    EXPECT_FAIL(t, loss, WG_EINVAL, "bad_back",
                "bad_back: backward callback failed: invalid argument");

    wg_tape_free(t);
    wg_params_free(S);
}

/* ------------------------------------------------------------------------ */
/* NULL arguments */

/* With a NULL tape, ops return NULL and wg_last_error() names the op. */
#define EXPECT_NULL_TAPE(call, name)                                                          \
    do {                                                                                      \
        wg_set_num_threads(0); /* puts another message in wg_last_error() first */            \
        wg_tensor *r_ = (call);                                                               \
        CHECK(r_ == NULL, "%s with a NULL tape returned a tensor", name);                     \
        CHECK(starts_with(wg_last_error(), name ": "), "%s: last error \"%s\"", name,          \
              wg_last_error());                                                               \
        CHECK(strstr(wg_last_error(), "NULL tape") != NULL, "%s: last error \"%s\"", name,     \
              wg_last_error());                                                               \
    } while (0)

static void test_null_tape(void)
{
    wg_params *S = wg_params_new();
    wg_tensor *a = P(S, WG_SHAPE(2, 2)), *x = P(S, WG_SHAPE(1, 1, 4, 4));
    wg_tensor *w = P(S, WG_SHAPE(1, 1, 3, 3));
    const int32_t labels[2] = { 0, 1 };
    const wg_real data[4] = { 1, 2, 3, 4 };
    const wg_custom_op op = { "my_op", zero_forward, NULL };
    wg_tensor *in[1] = { a };

    EXPECT_NULL_TAPE(wg_input(NULL, data, WG_SHAPE(2, 2)), "input");
    EXPECT_NULL_TAPE(wg_matmul(NULL, a, a), "matmul");
    EXPECT_NULL_TAPE(wg_matmul_nt(NULL, a, a), "matmul_nt");
    EXPECT_NULL_TAPE(wg_matmul_tn(NULL, a, a), "matmul_tn");
    EXPECT_NULL_TAPE(wg_add(NULL, a, a), "add");
    EXPECT_NULL_TAPE(wg_sub(NULL, a, a), "sub");
    EXPECT_NULL_TAPE(wg_mul(NULL, a, a), "mul");
    EXPECT_NULL_TAPE(wg_sum(NULL, a), "sum");
    EXPECT_NULL_TAPE(wg_mean(NULL, a), "mean");
    EXPECT_NULL_TAPE(wg_sigmoid(NULL, a), "sigmoid");
    EXPECT_NULL_TAPE(wg_tanh(NULL, a), "tanh");
    EXPECT_NULL_TAPE(wg_relu(NULL, a), "relu");
    EXPECT_NULL_TAPE(wg_conv2d(NULL, x, w, NULL, 1, 0), "conv2d");
    EXPECT_NULL_TAPE(wg_conv2d_ex(NULL, x, w, NULL, (wg_conv2d_opts){ 1, 1, 0, 0, 0, 0 }),
                     "conv2d");
    EXPECT_NULL_TAPE(wg_maxpool2d(NULL, x, 2, 2), "maxpool2d");
    EXPECT_NULL_TAPE(wg_maxpool2d_ex(NULL, x, 2, 2, 2, 2), "maxpool2d");
    EXPECT_NULL_TAPE(wg_softmax_cross_entropy(NULL, a, labels), "softmax_cross_entropy");
    EXPECT_NULL_TAPE(wg_mse(NULL, a, a), "mse");
    EXPECT_NULL_TAPE(wg_reshape(NULL, a, WG_SHAPE(4)), "reshape");
    EXPECT_NULL_TAPE(wg_flatten(NULL, a), "flatten");
    EXPECT_NULL_TAPE(wg_custom(NULL, &op, in, 1, WG_SHAPE(2), NULL), "my_op");
    wg_rng rng = wg_rng_seed(1);
    EXPECT_NULL_TAPE(wg_leaky_relu(NULL, a, 0.01), "leaky_relu");
    EXPECT_NULL_TAPE(wg_dropout(NULL, a, 0.5, true, &rng), "dropout");

    /* backward with a NULL tape: a status, and the reason in wg_last_error() */
    wg_set_num_threads(0);
    wg_status st = wg_backward(NULL, a);
    CHECK(st == WG_EINVAL, "wg_backward(NULL, x) = %d", (int)st);
    CHECK(starts_with(wg_last_error(), "backward: ") &&
              strstr(wg_last_error(), "NULL tape") != NULL,
          "last error \"%s\"", wg_last_error());
    const wg_real one = 1;
    st = wg_backward_from(NULL, a, &one);
    CHECK(st == WG_EINVAL, "wg_backward_from(NULL, ...) = %d", (int)st);
    CHECK(starts_with(wg_last_error(), "backward_from: "), "last error \"%s\"", wg_last_error());

    /* the tape functions accept NULL */
    CHECK(wg_tape_status(NULL) == WG_EINVAL, "wg_tape_status(NULL)");
    CHECK(wg_tape_error(NULL) != NULL, "wg_tape_error(NULL) is NULL");
    CHECK(wg_tape_size(NULL) == 0, "wg_tape_size(NULL)");
    CHECK(wg_tape_set_grad(NULL, false) == false, "wg_tape_set_grad(NULL)");
    size_t held = 1, peak = 1;
    wg_tape_memory(NULL, &held, &peak);
    CHECK(held == 0 && peak == 0, "wg_tape_memory(NULL)");
    wg_tape_reset(NULL);
    wg_tape_free(NULL);
    /* and so do the accessors */
    CHECK(wg_numel(NULL) == 0 && wg_ndim(NULL) == 0 && wg_dim(NULL, 0) == 0, "accessors");
    CHECK(wg_data(NULL) == NULL && wg_grad(NULL) == NULL && wg_name(NULL) == NULL, "accessors");
    CHECK(isnan((double)wg_item(NULL)), "wg_item(NULL) is not NaN");
    CHECK(isnan((double)wg_item(a)), "wg_item of a [2 x 2] tensor is not NaN");
    CHECK(!wg_requires_grad(NULL), "wg_requires_grad(NULL)");
    CHECK(wg_set_name(NULL, "x") == NULL, "wg_set_name(NULL)");
    CHECK(wg_softmax_cross_entropy_probs(NULL) == NULL, "probs(NULL)");
    wg_zero_grad(NULL);
    wg_tensor_free(NULL);
    wg_params_free(NULL);

    wg_params_free(S);
}

static void test_null_inputs(void)
{
    wg_params *S = wg_params_new();
    wg_tape *t = wg_tape_new();
    wg_tensor *a = P(S, WG_SHAPE(2, 2)), *x = P(S, WG_SHAPE(1, 1, 4, 4));
    wg_tensor *w = P(S, WG_SHAPE(1, 1, 3, 3));
    const int32_t labels[2] = { 0, 1 };

    EXPECT_FAIL(t, wg_input(t, NULL, WG_SHAPE(2, 2)), WG_EINVAL, "input", "data is NULL");
    EXPECT_FAIL(t, wg_matmul(t, NULL, a), WG_EINVAL, "matmul", "input 0 is NULL");
    EXPECT_FAIL(t, wg_matmul_nt(t, a, NULL), WG_EINVAL, "matmul_nt", "input 1 is NULL");
    EXPECT_FAIL(t, wg_matmul_tn(t, NULL, NULL), WG_EINVAL, "matmul_tn", "input 0 is NULL");
    EXPECT_FAIL(t, wg_add(t, a, NULL), WG_EINVAL, "add", "input 1 is NULL");
    EXPECT_FAIL(t, wg_sub(t, NULL, a), WG_EINVAL, "sub", "input 0 is NULL");
    EXPECT_FAIL(t, wg_mul(t, a, NULL), WG_EINVAL, "mul", "input 1 is NULL");
    EXPECT_FAIL(t, wg_sum(t, NULL), WG_EINVAL, "sum", "input 0 is NULL");
    EXPECT_FAIL(t, wg_mean(t, NULL), WG_EINVAL, "mean", "input 0 is NULL");
    EXPECT_FAIL(t, wg_sigmoid(t, NULL), WG_EINVAL, "sigmoid", "input 0 is NULL");
    EXPECT_FAIL(t, wg_tanh(t, NULL), WG_EINVAL, "tanh", "input 0 is NULL");
    EXPECT_FAIL(t, wg_relu(t, NULL), WG_EINVAL, "relu", "input 0 is NULL");
    EXPECT_FAIL(t, wg_conv2d(t, NULL, w, NULL, 1, 0), WG_EINVAL, "conv2d", "input 0 is NULL");
    EXPECT_FAIL(t, wg_conv2d(t, x, NULL, NULL, 1, 0), WG_EINVAL, "conv2d", "input 1 is NULL");
    EXPECT_FAIL(t, wg_maxpool2d(t, NULL, 2, 2), WG_EINVAL, "maxpool2d", "input 0 is NULL");
    EXPECT_FAIL(t, wg_softmax_cross_entropy(t, NULL, labels), WG_EINVAL,
                "softmax_cross_entropy", "input 0 is NULL");
    EXPECT_FAIL(t, wg_mse(t, a, NULL), WG_EINVAL, "mse", "input 1 is NULL");
    EXPECT_FAIL(t, wg_reshape(t, NULL, WG_SHAPE(4)), WG_EINVAL, "reshape", "input 0 is NULL");
    EXPECT_FAIL(t, wg_flatten(t, NULL), WG_EINVAL, "flatten", "input 0 is NULL");

    /* backward with a NULL loss or seed */
    wg_status st = wg_backward(t, NULL);
    CHECK(st == WG_EINVAL, "wg_backward(t, NULL) = %d", (int)st);
    EXPECT_FAIL(t, a, WG_EINVAL, "backward", "NULL");
    wg_tensor *loss = wg_sum(t, a);
    st = wg_backward_from(t, loss, NULL);
    CHECK(st == WG_EINVAL, "wg_backward_from(t, y, NULL) = %d", (int)st);
    EXPECT_FAIL(t, a, WG_EINVAL, "backward_from", "NULL");

    /* a bad shape for wg_input: negative or overflowing */
    const wg_real data[4] = { 0 };
    EXPECT_FAIL(t, wg_input(t, data, WG_SHAPE(2, -2)), WG_ESHAPE, "input", "[2 x -2]");
    EXPECT_FAIL(t, wg_input(t, data, WG_SHAPE(1LL << 40, 1LL << 40)), WG_ESHAPE, "input",
                "[1099511627776 x 1099511627776]");

    wg_tape_free(t);
    wg_params_free(S);
}

/* ------------------------------------------------------------------------ */
/* poisoning */

static void test_poisoning(void)
{
    wg_params *S = wg_params_new();
    wg_tensor *W = P(S, WG_SHAPE(4, 5)), *W2 = P(S, WG_SHAPE(3, 2)), *b = P(S, WG_SHAPE(7));
    wg_tape *t = wg_tape_new();
    const wg_real xd[6] = { 1, 2, 3, 4, 5, 6 };
    const int32_t labels[2] = { 0, 1 };

    wg_tensor *x = wg_input(t, xd, WG_SHAPE(2, 3));
    wg_tensor *h = wg_relu(t, x);
    CHECK(wg_tape_status(t) == WG_OK, "healthy start: %s", wg_tape_error(t));
    const int size_before = wg_tape_size(t);

    wg_tensor *y = wg_matmul(t, h, W); /* [2 x 3] @ [4 x 5] */
    CHECK(y != NULL, "failing matmul returned NULL");
    CHECK(wg_tape_status(t) == WG_ESHAPE, "status %d", (int)wg_tape_status(t));
    char first[512];
    snprintf(first, sizeof first, "%s", wg_tape_error(t));
    CHECK(strstr(first, "matmul: [2 x 3] @ [4 x 5]: inner dimensions differ") != NULL,
          "first message \"%s\"", first);

    /* later ops: non-NULL, do nothing, keep the first message */
    wg_tensor *later[8];
    later[0] = wg_add(t, y, b);          /* would be a shape error of its own */
    later[1] = wg_relu(t, later[0]);
    later[2] = wg_softmax_cross_entropy(t, later[1], NULL); /* would be EINVAL */
    later[3] = wg_reshape(t, x, WG_SHAPE(-1, -1));
    later[4] = wg_conv2d(t, x, W, NULL, 0, -1);
    later[5] = wg_input(t, NULL, WG_SHAPE(3));
    later[6] = wg_sum(t, NULL);
    later[7] = wg_softmax_cross_entropy(t, wg_matmul(t, x, W2), labels);
    for (int i = 0; i < 8; i++)
        CHECK(later[i] != NULL, "op %d on a failed tape returned NULL", i);
    CHECK(wg_tape_status(t) == WG_ESHAPE, "status changed to %d", (int)wg_tape_status(t));
    CHECK(strcmp(wg_tape_error(t), first) == 0, "message changed from \"%s\" to \"%s\"", first,
          wg_tape_error(t));
    CHECK(wg_tape_size(t) == size_before, "a failed tape recorded %d nodes (was %d)",
          wg_tape_size(t), size_before);
    CHECK(wg_grad(later[7]) == NULL, "a poisoned tensor has a gradient");

    /* backward returns the first error, as often as it is asked */
    wg_status st = wg_backward(t, later[7]);
    CHECK(st == WG_ESHAPE, "wg_backward on a failed tape: %d", (int)st);
    st = wg_backward(t, later[7]);
    CHECK(st == WG_ESHAPE, "second wg_backward on a failed tape: %d", (int)st);
    st = wg_backward(t, NULL);
    CHECK(st == WG_ESHAPE, "wg_backward(t, NULL) on a failed tape: %d", (int)st);
    const wg_real one = 1;
    st = wg_backward_from(t, later[1], &one);
    CHECK(st == WG_ESHAPE, "wg_backward_from on a failed tape: %d", (int)st);
    CHECK(strcmp(wg_tape_error(t), first) == 0, "backward changed the message to \"%s\"",
          wg_tape_error(t));
    for (int i = 0; i < wg_params_numel(S); i++)
        CHECK(wg_params_grads(S)[i] == 0, "a failed tape wrote gradient %d", i);

    /* a poisoned tensor handed to another, healthy tape fails it, naming the op */
    wg_tape *t2 = wg_tape_new();
    EXPECT_FAIL(t2, wg_relu(t2, later[1]), WG_EINVAL, "relu", "input 0", "failed tape");
    wg_tensor *ok2 = wg_sum(t2, W2);
    st = wg_backward(t2, later[1]);
    CHECK(st == WG_EINVAL, "backward of a poisoned tensor on a healthy tape: %d", (int)st);
    CHECK(starts_with(wg_tape_error(t2), "backward: ") &&
              strstr(wg_tape_error(t2), "failed tape"),
          "message \"%s\"", wg_tape_error(t2));
    (void)ok2;
    wg_tape_free(t2);

    /* reset clears the error, and the tape works again */
    wg_tape_reset(t);
    CHECK(wg_tape_status(t) == WG_OK, "status after reset %d", (int)wg_tape_status(t));
    CHECK(strcmp(wg_tape_error(t), "") == 0, "message after reset \"%s\"", wg_tape_error(t));
    CHECK(wg_tape_size(t) == 0, "size after reset %d", wg_tape_size(t));
    x = wg_input(t, xd, WG_SHAPE(2, 3));
    wg_tensor *loss = wg_sum(t, wg_matmul(t, x, W2)); /* d loss / d W2[k][j] = sum_i x[i][k] */
    st = wg_backward(t, loss);
    CHECK(st == WG_OK, "backward after reset: %d %s", (int)st, wg_tape_error(t));
    CHECK(wg_tape_status(t) == WG_OK, "status %d", (int)wg_tape_status(t));
    const wg_real *g = wg_grad(W2);
    CHECK(g != NULL, "W2 has no gradient");
    if (g)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 2; j++)
                CHECK_CLOSE(g[k * 2 + j], xd[k] + xd[3 + k], 1e-6, 1e-6, "dW2[%d][%d]", k, j);

    wg_tape_free(t);
    wg_params_free(S);
}

/* ------------------------------------------------------------------------ */
/* non-finite losses, bad loss shapes, foreign tensors */

static void test_nonfinite(void)
{
    wg_params *S = wg_params_new();
    wg_tensor *L = P(S, WG_SHAPE(2, 3)), *pred = P(S, WG_SHAPE(4));
    wg_tape *t = wg_tape_new();
    const int32_t labels[2] = { 0, 2 };
    wg_status st;

    /* a NaN in the logits */
    wg_data(L)[4] = (wg_real)NAN;
    wg_tensor *loss = wg_softmax_cross_entropy(t, L, labels);
    CHECK(wg_tape_status(t) == WG_OK, "the forward pass itself is fine: %s", wg_tape_error(t));
    CHECK(isnan((double)wg_item(loss)), "loss %g", (double)wg_item(loss));
    st = wg_backward(t, loss);
    CHECK(st == WG_ENONFINITE, "backward of a NaN loss: %d", (int)st);
    EXPECT_FAIL(t, loss, WG_ENONFINITE, "backward", "softmax_cross_entropy", "nan");
    for (int i = 0; i < 6; i++)
        CHECK(wg_grad(L)[i] == 0, "a NaN loss propagated gradient %d", i);

    /* named, the loss's name is in the message too */
    loss = wg_set_name(wg_softmax_cross_entropy(t, L, labels), "train_loss");
    st = wg_backward(t, loss);
    CHECK(st == WG_ENONFINITE, "backward of a named NaN loss: %d", (int)st);
    EXPECT_FAIL(t, loss, WG_ENONFINITE, "backward", "softmax_cross_entropy", "train_loss");

    /* an infinite logit makes the loss NaN too */
    wg_data(L)[4] = (wg_real)INFINITY;
    loss = wg_softmax_cross_entropy(t, L, labels);
    st = wg_backward(t, loss);
    CHECK(st == WG_ENONFINITE, "backward with an infinite logit: %d", (int)st);
    EXPECT_FAIL(t, loss, WG_ENONFINITE, "backward", "softmax_cross_entropy");
    wg_data(L)[4] = 0;

    /* logits that need no gradient (an input): the message still names the op */
    const wg_real ld[6] = { 0, 1, 2, 3, NAN, 5 };
    loss = wg_softmax_cross_entropy(t, wg_input(t, ld, WG_SHAPE(2, 3)), labels);
    st = wg_backward(t, loss);
    CHECK(st == WG_ENONFINITE, "backward of a NaN loss from an input: %d", (int)st);
    EXPECT_FAIL(t, loss, WG_ENONFINITE, "backward", "softmax_cross_entropy");

    /* mse with an infinite target */
    for (int i = 0; i < 4; i++)
        wg_data(pred)[i] = 1;
    const wg_real target[4] = { 1, 2, INFINITY, 4 };
    loss = wg_mse(t, pred, wg_input(t, target, WG_SHAPE(4)));
    CHECK(isinf((double)wg_item(loss)), "mse loss %g", (double)wg_item(loss));
    st = wg_backward(t, loss);
    CHECK(st == WG_ENONFINITE, "backward of an infinite mse: %d", (int)st);
    EXPECT_FAIL(t, loss, WG_ENONFINITE, "backward", "mse", "inf");
    for (int i = 0; i < 4; i++)
        CHECK(wg_grad(pred)[i] == 0, "an infinite loss propagated gradient %d", i);

    /* the mean of nothing is 0/0: no op error, but backward refuses it */
    wg_tensor *empty = P(S, WG_SHAPE(0, 2));
    loss = wg_mean(t, empty);
    CHECK(wg_tape_status(t) == WG_OK && isnan((double)wg_item(loss)),
          "mean of [0 x 2]: status %d, value %g", (int)wg_tape_status(t), (double)wg_item(loss));
    st = wg_backward(t, loss);
    CHECK(st == WG_ENONFINITE, "backward of the mean of nothing: %d", (int)st);
    EXPECT_FAIL(t, loss, WG_ENONFINITE, "backward", "loss from mean (node 0) is", "nan");

    /* a finite loss still works on the same tape */
    loss = wg_softmax_cross_entropy(t, L, labels);
    st = wg_backward(t, loss);
    CHECK(st == WG_OK, "finite loss: %d %s", (int)st, wg_tape_error(t));

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_backward_shape(void)
{
    wg_params *S = wg_params_new();
    wg_tensor *x = P(S, WG_SHAPE(2, 2)), *e = P(S, WG_SHAPE(0, 2));
    wg_tape *t = wg_tape_new();

    wg_tensor *y = wg_relu(t, x);
    wg_status st = wg_backward(t, y);
    CHECK(st == WG_ESHAPE, "backward of a [2 x 2] tensor: %d", (int)st);
    EXPECT_FAIL(t, y, WG_ESHAPE, "backward", "[2 x 2]", "one element");

    y = wg_tanh(t, e);
    st = wg_backward(t, y);
    CHECK(st == WG_ESHAPE, "backward of a [0 x 2] tensor: %d", (int)st);
    EXPECT_FAIL(t, y, WG_ESHAPE, "backward", "[0 x 2]");

    /* one element in any rank is a valid loss */
    y = wg_reshape(t, wg_sum(t, x), WG_SHAPE(1, 1));
    st = wg_backward(t, y);
    CHECK(st == WG_OK, "backward of a [1 x 1] tensor: %d %s", (int)st, wg_tape_error(t));

    wg_tape_free(t);
    wg_params_free(S);
}

static void test_other_tape(void)
{
    wg_tape *t1 = wg_tape_new(), *t2 = wg_tape_new();
    const wg_real d[4] = { 1, -2, 3, -4 };
    wg_tensor *x1 = wg_input(t1, d, WG_SHAPE(2, 2));
    wg_tensor *x2 = wg_input(t2, d, WG_SHAPE(2, 2));
    wg_tensor *loss1 = wg_sum(t1, x1);

    EXPECT_FAIL(t2, wg_relu(t2, x1), WG_EINVAL, "relu", "input 0", "another tape");
    CHECK(wg_tape_status(t1) == WG_OK, "the other tape was failed: %s", wg_tape_error(t1));
    x2 = wg_input(t2, d, WG_SHAPE(2, 2));
    EXPECT_FAIL(t2, wg_add(t2, x2, x1), WG_EINVAL, "add", "input 1", "another tape");
    x2 = wg_input(t2, d, WG_SHAPE(2, 2));
    EXPECT_FAIL(t2, wg_matmul(t2, x1, x2), WG_EINVAL, "matmul", "input 0", "another tape");
    wg_status st = wg_backward(t2, loss1);
    CHECK(st == WG_EINVAL, "backward of another tape's loss: %d", (int)st);
    EXPECT_FAIL(t2, loss1, WG_EINVAL, "backward", "another tape");
    CHECK(wg_tape_status(t1) == WG_OK, "the other tape was failed: %s", wg_tape_error(t1));

    wg_tape_free(t2);
    wg_tape_free(t1);
}

/* ------------------------------------------------------------------------ */
/* constructors and settings */

static void test_constructors(void)
{
    wg_params *S = wg_params_new();
    wg_tensor *w = wg_param(S, "fc.weight", WG_SHAPE(2, 3));
    CHECK(w != NULL, "wg_param: %s", wg_last_error());

    EXPECT_NULL(wg_param(S, "fc.weight", WG_SHAPE(4)), "param", "fc.weight", "exists");
    EXPECT_NULL(wg_param(S, "", WG_SHAPE(4)), "param", "name");
    EXPECT_NULL(wg_param(S, NULL, WG_SHAPE(4)), "param", "name");
    EXPECT_NULL(wg_param(NULL, "x", WG_SHAPE(4)), "param", "NULL");
    EXPECT_NULL(wg_param(S, "neg", WG_SHAPE(2, -1)), "param", "neg", "[2 x -1]");
    EXPECT_NULL(wg_param(S, "huge", WG_SHAPE(1LL << 40, 1LL << 40)), "param", "huge",
                "[1099511627776 x 1099511627776]");
    EXPECT_NULL(wg_param(S, "rank7", ((wg_shape){ 7, { 1, 1, 1, 1, 1, 1 } })), "param", "rank7");
    /* the store is unchanged by the failures */
    CHECK(wg_params_count(S) == 1, "store count %d", wg_params_count(S));
    CHECK(wg_params_numel(S) == 6, "store numel %lld", (long long)wg_params_numel(S));
    CHECK(wg_params_find(S, "neg") == NULL && wg_params_find(S, "huge") == NULL,
          "a failed parameter is in the store");
    CHECK(wg_param(S, "fc.bias", WG_SHAPE(2)) != NULL, "wg_param after failures: %s",
          wg_last_error());
    CHECK(wg_params_count(S) == 2, "store count %d", wg_params_count(S));

    EXPECT_NULL(wg_tensor_new(WG_SHAPE(1LL << 40, 1LL << 40), true), "tensor_new",
                "[1099511627776 x 1099511627776]");
    EXPECT_NULL(wg_tensor_new(WG_SHAPE(1LL << 62, 4), false), "tensor_new");
    EXPECT_NULL(wg_tensor_new(WG_SHAPE(3, -5), false), "tensor_new", "[3 x -5]");
    EXPECT_NULL(wg_tensor_new(((wg_shape){ -1, { 0 } }), false), "tensor_new");
    wg_tensor *ok = wg_tensor_new(WG_SHAPE(2, 2), true);
    CHECK(ok != NULL, "wg_tensor_new: %s", wg_last_error());
    wg_tensor_free(ok);
    /* freeing what a store or a tape owns does nothing */
    wg_tensor_free(w);

    const int threads = wg_get_num_threads();
    wg_status st = wg_set_num_threads(0);
    CHECK(st == WG_EINVAL, "wg_set_num_threads(0) = %d", (int)st);
    CHECK(strstr(wg_last_error(), "set_num_threads") != NULL, "last error \"%s\"",
          wg_last_error());
    st = wg_set_num_threads(-3);
    CHECK(st == WG_EINVAL, "wg_set_num_threads(-3) = %d", (int)st);
    CHECK(wg_get_num_threads() == threads, "a failed set changed the count to %d",
          wg_get_num_threads());

    /* every status has a readable, distinct description */
    for (int s = WG_OK; s <= WG_EGRAD; s++) {
        const char *d = wg_strerror((wg_status)s);
        CHECK(d && *d, "wg_strerror(%d) is empty", s);
        for (int u = WG_OK; u < s; u++)
            CHECK(strcmp(d, wg_strerror((wg_status)u)) != 0, "wg_strerror(%d) == (%d)", s, u);
    }
    CHECK(wg_strerror((wg_status)1234) != NULL, "wg_strerror of an unknown code");

    wg_params_free(S);
}

/* An optimizer constructor given one bad setting returns NULL and names
 * that setting and its value, not every constraint. */
#define EXPECT_BAD_SETTING(call, message)                                                     \
    do {                                                                                      \
        wg_optim *o_ = (call);                                                                \
        CHECK(o_ == NULL && !strcmp(wg_last_error(), message), "%s: got %s, expected \"%s\"",  \
              #call, o_ ? "an optimizer" : wg_last_error(), message);                         \
        wg_optim_free(o_);                                                                    \
    } while (0)

static void test_optim_errors(void)
{
    wg_params *S = wg_params_new();
    wg_tensor *w = P(S, WG_SHAPE(3));

    EXPECT_NULL(wg_sgd(NULL, (wg_sgd_opts){ .lr = 0.1 }), "optim: NULL parameter store");
    EXPECT_NULL(wg_adam(NULL, (wg_adam_opts){ .lr = 0.1 }), "optim: NULL parameter store");
    EXPECT_NULL(wg_adamw(NULL, (wg_adam_opts){ .lr = 0.1 }), "optim: NULL parameter store");
    wg_status st = wg_optim_step(NULL);
    CHECK(st == WG_EINVAL && !strcmp(wg_last_error(), "optim_step: NULL optimizer"),
          "step(NULL): %d %s", (int)st, wg_last_error());

    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = 0 }), "sgd: lr 0 must be > 0");
    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = -0.5 }), "sgd: lr -0.5 must be > 0");
    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = INFINITY }), "sgd: lr inf must be > 0");
    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = 0.1, .momentum = -1 }),
                       "sgd: momentum -1 must be >= 0");
    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = 0.1, .momentum = NAN }),
                       "sgd: momentum nan must be >= 0");
    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = 0.1, .dampening = -0.1 }),
                       "sgd: dampening -0.1 must be >= 0");
    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = 0.1, .weight_decay = -1e-4 }),
                       "sgd: weight decay -0.0001 must be >= 0");
    EXPECT_BAD_SETTING(wg_sgd(S, (wg_sgd_opts){ .lr = 0.1, .nesterov = true }),
                       "sgd: Nesterov needs momentum > 0 and dampening 0 (momentum 0, "
                       "dampening 0)");
    EXPECT_BAD_SETTING(
        wg_sgd(S, (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true }),
        "sgd: Nesterov needs momentum > 0 and dampening 0 (momentum 0.9, dampening 0.1)");
    EXPECT_BAD_SETTING(wg_adam(S, (wg_adam_opts){ .lr = 0 }), "adam: lr 0 must be > 0");
    EXPECT_BAD_SETTING(wg_adam(S, (wg_adam_opts){ .lr = 0.1, .beta1 = 1, .beta2 = 0.999 }),
                       "adam: beta1 1 must be in [0, 1)");
    EXPECT_BAD_SETTING(wg_adam(S, (wg_adam_opts){ .lr = 0.1, .beta1 = 0.9, .beta2 = -0.1 }),
                       "adam: beta2 -0.1 must be in [0, 1)");
    EXPECT_BAD_SETTING(wg_adam(S, (wg_adam_opts){ .lr = 0.1, .beta1 = NAN, .beta2 = 0.999 }),
                       "adam: beta1 nan must be in [0, 1)");
    EXPECT_BAD_SETTING(wg_adamw(S, (wg_adam_opts){ .lr = 0.1, .eps = -1 }),
                       "adamw: eps -1 must be >= 0");
    EXPECT_BAD_SETTING(wg_adamw(S, (wg_adam_opts){ .lr = 0.1, .weight_decay = -0.01 }),
                       "adamw: weight decay -0.01 must be >= 0");

    /* a non-finite gradient: refused before anything changes */
    wg_optim *o = wg_sgd(S, (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    CHECK(o != NULL, "sgd: %s", wg_last_error());
    const wg_real bad[2] = { NAN, INFINITY };
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++) {
            wg_data(w)[i] = (wg_real)(i + 1);
            wg_grad(w)[i] = i == 1 ? bad[k] : 1;
        }
        st = wg_optim_step(o);
        char msg[128];
        snprintf(msg, sizeof msg, "optim_step: gradient of %s[1] is %s; parameters unchanged",
                 wg_name(w), k == 0 ? "nan" : "inf");
        CHECK(st == WG_ENONFINITE && !strcmp(wg_last_error(), msg), "step with %g: %d %s",
              (double)bad[k], (int)st, wg_last_error());
        CHECK(wg_data(w)[0] == 1 && wg_data(w)[1] == 2 && wg_data(w)[2] == 3,
              "a refused step changed the parameters");
        CHECK(wg_optim_steps(o) == 0, "a refused step was counted");
        /* clipping reports the non-finite norm and leaves the gradients */
        double norm = wg_clip_grad_norm(S, 1.0);
        CHECK(isnan(norm), "clip_grad_norm of a gradient with %g: %g", (double)bad[k], norm);
        CHECK(wg_grad(w)[0] == 1 && wg_grad(w)[2] == 1 &&
                  (k == 0 ? isnan((double)wg_grad(w)[1]) : isinf((double)wg_grad(w)[1])),
              "clip_grad_norm changed non-finite gradients");
    }

    /* a store that grew after the optimizer was made */
    P(S, WG_SHAPE(2));
    wg_params_zero_grad(S);
    st = wg_optim_step(o);
    CHECK(st == WG_ESTATE &&
              !strcmp(wg_last_error(), "optim_step: the store has 5 values, the optimizer was "
                                       "made for 3"),
          "step after the store grew: %d %s", (int)st, wg_last_error());
    CHECK(wg_data(w)[0] == 1, "the refused step changed the parameters");
    wg_optim_free(o);
    wg_params_free(S);
}

static void test_model_errors(void)
{
    EXPECT_NULL(wg_mlp(4, 0, 2, WG_ACT_TANH, WG_INIT_DEFAULT, 1), "linear fc1: sizes 4 -> 0 must be >= 1");
    EXPECT_NULL(wg_lenet5(0, WG_INIT_DEFAULT, 1), "linear fc3: sizes 84 -> 0 must be >= 1");
    wg_params *S = wg_params_new();
    wg_linear l;
    wg_rng rng = wg_rng_seed(1);
    wg_status st = wg_linear_init(&l, S, "fc", 0, 3, true, WG_INIT_DEFAULT, &rng);
    CHECK(st == WG_EINVAL && !strcmp(wg_last_error(), "linear fc: sizes 0 -> 3 must be >= 1"),
          "linear_init with in 0: %d %s", (int)st, wg_last_error());
    CHECK(wg_params_count(S) == 0, "a failed layer left %d parameters", wg_params_count(S));
    wg_params_free(S);

    wg_model *m = wg_mlp(4, 3, 2, WG_ACT_TANH, WG_INIT_DEFAULT, 1);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", wg_model_arch_json(m));
    st = wg_model_set_str(m, "note", "say \"hi\"");
    CHECK(st == WG_EINVAL &&
              !strcmp(wg_last_error(), "model_set_str: the value of note needs JSON escaping"),
          "set_str with a quote: %d %s", (int)st, wg_last_error());
    CHECK(!strcmp(wg_model_arch_json(m), saved), "a refused value changed the architecture: %s",
          wg_model_arch_json(m));
    wg_model_free(m);

    wg_activation a = WG_ACT_RELU;
    st = wg_activation_parse("swish", &a);
    CHECK(st == WG_EINVAL && !strcmp(wg_last_error(), "activation_parse: unknown activation "
                                                      "'swish' (sigmoid, tanh, relu, none)"),
          "activation_parse: %d %s", (int)st, wg_last_error());
    CHECK(a == WG_ACT_RELU, "a failed parse changed the output");
}

/* ------------------------------------------------------------------------ */
/* gradient checks report their errors the same way */

static wg_tensor *gc_bad_fn(wg_tape *t, wg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    (void)ctx;
    return wg_matmul(t, in[0], in[0]); /* [2 x 3] @ [2 x 3] */
}
static wg_tensor *gc_null_fn(wg_tape *t, wg_tensor *const *in, int n, void *ctx)
{
    (void)t;
    (void)in;
    (void)n;
    (void)ctx;
    return NULL;
}

static void test_gradcheck_errors(void)
{
    wg_tensor *x = wg_tensor_new(WG_SHAPE(2, 3), true);
    wg_gradcheck_report rep;
    wg_status st = wg_gradcheck(NULL, NULL, &x, 1, NULL, &rep);
    CHECK(st == WG_EINVAL, "gradcheck without a function: %d", (int)st);
    CHECK(starts_with(wg_last_error(), "gradcheck: "), "last error \"%s\"", wg_last_error());
    st = wg_gradcheck(gc_bad_fn, NULL, &x, -1, NULL, NULL);
    CHECK(st == WG_EINVAL, "gradcheck with -1 inputs: %d", (int)st);
    st = wg_gradcheck(gc_bad_fn, NULL, &x, 1, NULL, &rep);
    CHECK(st == WG_ESHAPE, "gradcheck of a failing function: %d", (int)st);
    CHECK(strstr(wg_last_error(), "gradcheck: matmul: [2 x 3] @ [2 x 3]: inner dimensions differ"),
          "last error \"%s\"", wg_last_error());
    st = wg_gradcheck(gc_null_fn, NULL, &x, 1, NULL, NULL);
    CHECK(st == WG_EINVAL, "gradcheck of a function returning NULL: %d", (int)st);
    CHECK(strstr(wg_last_error(), "NULL"), "last error \"%s\"", wg_last_error());
    wg_tape *t = wg_tape_new();
    const wg_real d[6] = { 0 };
    wg_tensor *on_tape = wg_input(t, d, WG_SHAPE(2, 3));
    st = wg_gradcheck(gc_bad_fn, NULL, &on_tape, 1, NULL, NULL);
    CHECK(st == WG_EINVAL, "gradcheck of a tape's tensor: %d", (int)st);
    CHECK(strstr(wg_last_error(), "input 0"), "last error \"%s\"", wg_last_error());
    wg_tape_free(t);
    wg_tensor_free(x);
}

/* ------------------------------------------------------------------------ */
/* the library prints nothing; errors reach the log callback */

typedef struct {
    int calls, errors;
    char last[1024];
} log_count;

static void counting_log(wg_log_level level, const char *msg, void *ctx)
{
    log_count *c = ctx;
    c->calls++;
    if (level == WG_LOG_ERROR)
        c->errors++;
    snprintf(c->last, sizeof c->last, "%s", msg ? msg : "(null)");
}

/* Makes failing calls of every class without using CHECK (it may run with
 * stdout and stderr redirected). Returns how many errors it caused, each
 * of which is one message to the log; adds to *wrong each result that is
 * not the expected error. */
static int failing_calls(int *wrong)
{
    int n = 0;
    wg_params *S = wg_params_new();
    wg_tensor *a = wg_param(S, "a", WG_SHAPE(2, 3)), *b = wg_param(S, "b", WG_SHAPE(4, 5));
    wg_tensor *x = wg_param(S, "x", WG_SHAPE(1, 1, 2, 2)), *w = wg_param(S, "w", WG_SHAPE(1, 1, 3, 3));
    wg_tape *t = wg_tape_new();
    const int32_t bad_labels[2] = { 0, 9 };
    const wg_real nan_data[1] = { NAN };

#define TAPE_FAILS(expr, st)                                                                  \
    do {                                                                                      \
        wg_tensor *r_ = (expr);                                                               \
        *wrong += r_ == NULL || wg_tape_status(t) != (st);                                    \
        wg_tensor *again_ = wg_relu(t, r_); /* poisoned: no second message */                 \
        *wrong += again_ == NULL;                                                             \
        n++;                                                                                  \
        wg_tape_reset(t);                                                                     \
    } while (0)
    TAPE_FAILS(wg_matmul(t, a, b), WG_ESHAPE);
    TAPE_FAILS(wg_add(t, a, b), WG_ESHAPE);
    TAPE_FAILS(wg_conv2d(t, x, w, NULL, 1, 0), WG_ESHAPE);
    TAPE_FAILS(wg_conv2d(t, x, w, NULL, 0, 1), WG_EINVAL);
    TAPE_FAILS(wg_maxpool2d(t, x, 3, 1), WG_ESHAPE);
    TAPE_FAILS(wg_softmax_cross_entropy(t, a, bad_labels), WG_ERANGE);
    TAPE_FAILS(wg_softmax_cross_entropy(t, a, NULL), WG_EINVAL);
    TAPE_FAILS(wg_mse(t, a, b), WG_ESHAPE);
    TAPE_FAILS(wg_reshape(t, a, WG_SHAPE(7)), WG_ESHAPE);
    TAPE_FAILS(wg_sum(t, NULL), WG_EINVAL);
    TAPE_FAILS(wg_input(t, NULL, WG_SHAPE(1)), WG_EINVAL);
#undef TAPE_FAILS

    wg_tensor *loss = wg_sum(t, wg_input(t, nan_data, WG_SHAPE(1)));
    *wrong += wg_backward(t, loss) != WG_ENONFINITE;
    n++;
    wg_tape_reset(t);
    *wrong += wg_backward(t, wg_relu(t, a)) != WG_ESHAPE;
    n++;
    wg_tape_reset(t);
    *wrong += wg_backward(t, NULL) != WG_EINVAL;
    n++;
    wg_tape_reset(t);

    *wrong += wg_matmul(NULL, a, b) != NULL;
    n++;
    *wrong += wg_backward(NULL, a) != WG_EINVAL;
    n++;
    *wrong += wg_param(S, "a", WG_SHAPE(1)) != NULL;
    n++;
    *wrong += wg_param(S, "big", WG_SHAPE(1LL << 40, 1LL << 40)) != NULL;
    n++;
    *wrong += wg_tensor_new(WG_SHAPE(1LL << 40, 1LL << 40), false) != NULL;
    n++;
    *wrong += wg_set_num_threads(0) != WG_EINVAL;
    n++;

    wg_tape_free(t);
    wg_params_free(S);
    return n;
}

static void test_log_callback(void)
{
    log_count c = { 0, 0, "" };
    wg_set_log(counting_log, &c);

    wg_tape *t = wg_tape_new();
    wg_params *S = wg_params_new();
    wg_tensor *a = P(S, WG_SHAPE(64, 784)), *b = P(S, WG_SHAPE(785, 128));
    c.calls = c.errors = 0;
    wg_matmul(t, a, b);
    CHECK(c.calls == 1 && c.errors == 1, "one error, %d log calls (%d errors)", c.calls,
          c.errors);
    CHECK(strcmp(c.last, wg_tape_error(t)) == 0, "logged \"%s\", tape says \"%s\"", c.last,
          wg_tape_error(t));
    wg_relu(t, a);
    wg_backward(t, a);
    CHECK(c.calls == 1, "a poisoned tape logged again: %d calls, last \"%s\"", c.calls, c.last);
    wg_tensor_new(WG_SHAPE(-1), false);
    CHECK(c.calls == 2 && c.errors == 2, "wg_last_error() not logged: %d calls", c.calls);
    CHECK(strcmp(c.last, wg_last_error()) == 0, "logged \"%s\", last error \"%s\"", c.last,
          wg_last_error());
    wg_tape_free(t);
    wg_params_free(S);

    c.calls = c.errors = 0;
    int wrong = 0;
    int n = failing_calls(&wrong);
    CHECK(wrong == 0, "%d failing calls returned something unexpected", wrong);
    CHECK(c.errors == n, "%d errors, %d logged as errors", n, c.errors);
    CHECK(c.calls == n, "%d errors, %d log calls", n, c.calls);

    /* removed, it is called no more */
    wg_set_log(NULL, NULL);
    c.calls = 0;
    wrong = 0;
    failing_calls(&wrong);
    CHECK(c.calls == 0, "a removed callback was called %d times", c.calls);
}

static void test_prints_nothing(void)
{
    /* with and without a log callback: the library itself never writes */
    for (int with_log = 0; with_log < 2; with_log++) {
        log_count c = { 0, 0, "" };
        wg_set_log(with_log ? counting_log : NULL, with_log ? &c : NULL);
        fflush(stdout);
        fflush(stderr);
        FILE *tmp = tmpfile();
        CHECK(tmp != NULL, "tmpfile failed");
        if (!tmp)
            return;
        int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO);
        CHECK(out >= 0 && err >= 0, "dup failed");
        if (out < 0 || err < 0) {
            fclose(tmp);
            return;
        }
        dup2(fileno(tmp), STDOUT_FILENO);
        dup2(fileno(tmp), STDERR_FILENO);

        int wrong = 0;
        int n = failing_calls(&wrong);

        fflush(stdout);
        fflush(stderr);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        close(out);
        close(err);
        fseek(tmp, 0, SEEK_END);
        long size = ftell(tmp);
        char head[200] = "";
        if (size > 0) {
            rewind(tmp);
            size_t got = fread(head, 1, sizeof head - 1, tmp);
            head[got] = 0;
        }
        fclose(tmp);
        wg_set_log(NULL, NULL);

        CHECK(n > 15 && wrong == 0, "%d failing calls, %d unexpected results", n, wrong);
        CHECK(size == 0, "the library wrote %ld bytes (log %s): \"%s\"", size,
              with_log ? "on" : "off", head);
        if (with_log)
            CHECK(c.errors == n, "%d errors, %d logged", n, c.errors);
    }
}

int main(void)
{
    test_matmul_shapes();
    test_binary_shapes();
    test_conv2d();
    test_maxpool2d();
    test_losses();
    test_reshape_flatten();
    test_custom_op_errors();
    test_null_tape();
    test_null_inputs();
    test_poisoning();
    test_nonfinite();
    test_backward_shape();
    test_other_tape();
    test_constructors();
    test_optim_errors();
    test_model_errors();
    test_gradcheck_errors();
    test_log_callback();
    test_prints_nothing();
    return check_done("test_errors");
}
