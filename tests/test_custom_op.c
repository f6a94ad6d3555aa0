/* An op defined by the user from C: recorded like a built-in one, checked
 * by the public gradient check, and held to the same error rules. Runs in
 * the double library, where the check's bound is tight. */
#include "check.h"

#include <math.h>
#include <string.h>
#include <wengert.h>

/* y[i] = a[i] * sin(b[i]): two inputs, both differentiable */
static wg_status asin_fwd(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)n;
    (void)ctx;
    const wg_real *a = wg_data(in[0]), *b = wg_data(in[1]);
    for (int64_t i = 0; i < wg_numel(out); i++)
        wg_data(out)[i] = a[i] * sin(b[i]);
    return WG_OK;
}

static wg_status asin_bwd(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)n;
    int *calls = ctx;
    ++*calls;
    const wg_real *a = wg_data(in[0]), *b = wg_data(in[1]), *dy = wg_grad(out);
    wg_real *da = wg_grad(in[0]), *db = wg_grad(in[1]);
    for (int64_t i = 0; i < wg_numel(out); i++) {
        if (da)
            da[i] += dy[i] * sin(b[i]);
        if (db)
            db[i] += dy[i] * a[i] * cos(b[i]);
    }
    return WG_OK;
}

static const wg_custom_op asin_op = { "a_sin_b", asin_fwd, asin_bwd };

static int calls;

/* the custom op inside a small expression, to check it composes */
static wg_tensor *model(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    (void)n;
    (void)ctx;
    wg_tensor *y = wg_custom(t, &asin_op, x, 2, wg_shape_of(x[0]), &calls);
    return wg_tanh(t, wg_matmul(t, y, x[2]));
}

/* a wrong backward (a sign flipped) must be caught by the check */
static wg_status asin_bwd_wrong(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)n;
    (void)ctx;
    const wg_real *a = wg_data(in[0]), *b = wg_data(in[1]), *dy = wg_grad(out);
    wg_real *da = wg_grad(in[0]), *db = wg_grad(in[1]);
    for (int64_t i = 0; i < wg_numel(out); i++) {
        if (da)
            da[i] += dy[i] * sin(b[i]);
        if (db)
            db[i] -= dy[i] * a[i] * cos(b[i]);
    }
    return WG_OK;
}
static const wg_custom_op wrong_op = { "wrong", asin_fwd, asin_bwd_wrong };
static wg_tensor *wrong_model(wg_tape *t, wg_tensor *const *x, int n, void *ctx)
{
    (void)n;
    (void)ctx;
    return wg_custom(t, &wrong_op, x, 2, wg_shape_of(x[0]), NULL);
}

static wg_status failing_fwd(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)in;
    (void)n;
    (void)out;
    (void)ctx;
    return WG_ERANGE;
}
static const wg_custom_op failing_op = { "failing", failing_fwd, NULL };
static const wg_custom_op no_backward_op = { "forward_only", asin_fwd, NULL };

int main(void)
{
    wg_tensor *x[3] = { wg_tensor_new(WG_SHAPE(3, 4), true), wg_tensor_new(WG_SHAPE(3, 4), true),
                        wg_tensor_new(WG_SHAPE(4, 2), true) };
    wg_rng r = wg_rng_seed(99);
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < wg_numel(x[k]); i++)
            wg_data(x[k])[i] = (wg_real)(2 * wg_rng_uniform(&r) - 1);

    wg_gradcheck_report rep;
    wg_status s = wg_gradcheck(model, NULL, x, 3, NULL, &rep);
    CHECK(s == WG_OK, "custom op gradient check: %s", s == WG_EGRAD ? rep.message : wg_last_error());
    CHECK(rep.checked == 12 + 12 + 8, "checked %d elements", rep.checked);
    CHECK(calls == 1, "backward callback called once, by the analytic pass (%d)", calls);

    s = wg_gradcheck(wrong_model, NULL, x, 2, NULL, &rep);
    CHECK(s == WG_EGRAD, "a flipped sign is caught: %s", wg_strerror(s));
    CHECK(rep.worst_input == 1, "the wrong input is named: %d", rep.worst_input);
    CHECK(strstr(rep.message, "seed") != NULL, "report names the seed: %s", rep.message);

    /* a failing forward fails the tape with the op's name */
    wg_tape *t = wg_tape_new();
    wg_tensor *y = wg_custom(t, &failing_op, x, 1, WG_SHAPE(3, 4), NULL);
    CHECK(y != NULL && wg_tape_status(t) == WG_ERANGE, "status %d", wg_tape_status(t));
    CHECK(strstr(wg_tape_error(t), "failing: forward callback failed") != NULL, "%s",
          wg_tape_error(t));
    wg_tape_reset(t);

    /* differentiating an op without backward is an error, not a crash */
    y = wg_sum(t, wg_custom(t, &no_backward_op, x, 2, WG_SHAPE(3, 4), NULL));
    s = wg_backward(t, y);
    CHECK(s == WG_ESTATE, "status %s", wg_strerror(s));
    CHECK(strstr(wg_tape_error(t), "forward_only") != NULL, "%s", wg_tape_error(t));
    wg_tape_reset(t);

    /* ...but it is fine in inference mode */
    wg_tape_set_grad(t, false);
    y = wg_custom(t, &no_backward_op, x, 2, WG_SHAPE(3, 4), NULL);
    CHECK(wg_tape_status(t) == WG_OK && wg_tape_size(t) == 0, "no-grad custom op");
    CHECK_CLOSE(wg_data(y)[5], wg_data(x[0])[5] * sin(wg_data(x[1])[5]), 1e-12, 0, "value");
    wg_tape_free(t);
    for (int k = 0; k < 3; k++)
        wg_tensor_free(x[k]);
    return check_done("test_custom_op");
}
