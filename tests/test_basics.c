/* The tensor, parameter and tape API: shapes, the contiguous parameter
 * block, accumulation, no-grad mode, names, a hand-computed gradient. */
#include "check.h"

#include <string.h>
#include <wengert.h>

static void test_version(void)
{
    CHECK(strcmp(wg_version(), "0.1.0") == 0, "version %s", wg_version());
    const char *info = wg_build_info();
    CHECK(strstr(info, "single precision") != NULL, "%s", info);
    CHECK(strstr(info, "BLAS") != NULL, "%s", info);
    printf("%s\n", info);
}

static void test_params(void)
{
    wg_params *P = wg_params_new();
    wg_tensor *w = wg_param(P, "fc1.weight", WG_SHAPE(3, 4));
    wg_tensor *b = wg_param(P, "fc1.bias", WG_SHAPE(3));
    wg_tensor *w2 = wg_param(P, "fc2.weight", WG_SHAPE(2, 3));
    CHECK(w && b && w2, "params created");
    CHECK(wg_params_count(P) == 3, "count %d", wg_params_count(P));
    CHECK(wg_params_numel(P) == 12 + 3 + 6, "numel %lld", (long long)wg_params_numel(P));
    /* one contiguous block, in insertion order, after the last wg_param */
    CHECK(wg_data(w) == wg_params_values(P), "weight at block start");
    CHECK(wg_data(b) == wg_params_values(P) + 12, "bias follows weight");
    CHECK(wg_grad(w2) == wg_params_grads(P) + 15, "grads in the same order");
    CHECK(wg_params_find(P, "fc1.bias") == b, "find by name");
    CHECK(wg_params_find(P, "fc1") == NULL, "no prefix match in find");
    CHECK(strcmp(wg_name(wg_params_at(P, 2)), "fc2.weight") == 0, "name");
    CHECK(wg_ndim(w) == 2 && wg_dim(w, 0) == 3 && wg_dim(w, -1) == 4 && wg_dim(w, 2) == 0,
          "dims");
    CHECK(wg_params_freeze(P, "fc1.", true) == 2, "freeze by prefix");
    CHECK(!wg_requires_grad(w) && !wg_requires_grad(b) && wg_requires_grad(w2), "frozen flags");
    CHECK(wg_params_freeze(P, "", false) == 3, "unfreeze all");
    CHECK(wg_requires_grad(w), "unfrozen");
    wg_rng r = wg_rng_seed(1), r2 = wg_rng_seed(1);
    wg_params_uniform(P, &r, -1, 1);
    double first = wg_rng_uniform(&r2) * 2 - 1;
    CHECK_CLOSE(wg_data(w)[0], first, 1e-6, 0, "seeded fill is reproducible");
    wg_params_free(P);
}

/* loss = sum(W x) with W [2 x 3], x [3 x 1]: dloss/dW[i][j] = x[j]. */
static void test_hand_gradient(void)
{
    wg_params *P = wg_params_new();
    wg_tensor *W = wg_param(P, "W", WG_SHAPE(2, 3));
    for (int i = 0; i < 6; i++)
        wg_data(W)[i] = (wg_real)(i + 1);
    const wg_real xv[3] = { 0.5f, -1.0f, 2.0f };
    wg_tape *t = wg_tape_new();
    wg_tensor *x = wg_input(t, xv, WG_SHAPE(3, 1));
    wg_tensor *y = wg_sum(t, wg_matmul(t, W, x));
    CHECK(wg_backward(t, y) == WG_OK, "%s", wg_tape_error(t));
    /* y = (1*.5 - 2 + 6) + (4*.5 - 5 + 12) = 4.5 + 9 = 13.5 */
    CHECK_CLOSE(wg_item(y), 13.5, 1e-6, 0, "forward");
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            CHECK_CLOSE(wg_grad(W)[i * 3 + j], xv[j], 1e-6, 0, "dW[%d][%d]", i, j);
    CHECK(wg_grad(x) == NULL, "an input gets no gradient");

    /* gradients accumulate across backward calls until zeroed */
    wg_tape_reset(t);
    x = wg_input(t, xv, WG_SHAPE(3, 1));
    y = wg_sum(t, wg_matmul(t, W, x));
    CHECK(wg_backward(t, y) == WG_OK, "%s", wg_tape_error(t));
    CHECK_CLOSE(wg_grad(W)[2], 2 * xv[2], 1e-6, 0, "accumulated");
    /* a second backward over the same recording adds once more */
    CHECK(wg_backward(t, y) == WG_OK, "%s", wg_tape_error(t));
    CHECK_CLOSE(wg_grad(W)[2], 3 * xv[2], 1e-6, 0, "backward twice on one tape");
    wg_params_zero_grad(P);
    CHECK(wg_grad(W)[2] == 0, "zeroed");

    /* a frozen parameter gets nothing */
    wg_params_freeze(P, "W", true);
    wg_tape_reset(t);
    x = wg_input(t, xv, WG_SHAPE(3, 1));
    y = wg_sum(t, wg_matmul(t, W, x));
    CHECK(wg_tape_size(t) == 0, "nothing recorded when nothing needs a gradient: %d",
          wg_tape_size(t));
    CHECK(wg_backward(t, y) == WG_OK, "backward with nothing to do");
    CHECK(wg_grad(W) == NULL, "a frozen parameter shows no gradient");
    CHECK(wg_params_grads(P)[0] == 0, "frozen parameter's gradient untouched");
    wg_tape_free(t);
    wg_params_free(P);
}

static void test_no_grad_and_names(void)
{
    wg_params *P = wg_params_new();
    wg_tensor *w = wg_param(P, "w", WG_SHAPE(4));
    wg_rng r = wg_rng_seed(3);
    wg_params_uniform(P, &r, -1, 1);
    wg_tape *t = wg_tape_new();
    CHECK(wg_tape_set_grad(t, false) == true, "grad was on");
    wg_tensor *y = wg_tanh(t, w);
    CHECK(wg_tape_size(t) == 0 && !wg_requires_grad(y), "no-grad records nothing");
    for (int i = 0; i < 4; i++)
        CHECK_CLOSE(wg_data(y)[i], tanh(wg_data(w)[i]), 1e-6, 1e-7, "forward still computed");
    wg_tape_set_grad(t, true);
    wg_tensor *z = wg_set_name(wg_sigmoid(t, w), "act");
    CHECK(wg_tape_size(t) == 1 && wg_requires_grad(z), "recorded");
    CHECK(strcmp(wg_name(z), "act") == 0, "named activation");
    size_t held, peak;
    wg_tape_memory(t, &held, &peak);
    CHECK(held > 0 && peak > 0 && peak <= held, "memory %zu %zu", held, peak);
    wg_tape_free(t);
    wg_params_free(P);
}

/* A tensor used twice receives both contributions; backward_from is a
 * vector-Jacobian product. */
static void test_reuse_and_vjp(void)
{
    wg_tensor *x = wg_tensor_new(WG_SHAPE(3), true);
    for (int i = 0; i < 3; i++)
        wg_data(x)[i] = (wg_real)(i + 1);
    wg_tape *t = wg_tape_new();
    wg_tensor *y = wg_add(t, wg_mul(t, x, x), x); /* x^2 + x, dy/dx = 2x + 1 */
    const wg_real dy[3] = { 1, 10, 100 };
    CHECK(wg_backward_from(t, y, dy) == WG_OK, "%s", wg_tape_error(t));
    for (int i = 0; i < 3; i++)
        CHECK_CLOSE(wg_grad(x)[i], dy[i] * (2 * (i + 1) + 1), 1e-6, 0, "vjp %d", i);
    wg_tape_free(t);
    wg_tensor_free(x);
}

/* softmax probabilities sum to one and match exp(x)/sum exp(x) */
static void test_probs(void)
{
    const wg_real logits[2 * 3] = { 1, 2, 3, -1, 0, 50 };
    const int32_t labels[2] = { 2, 0 };
    wg_tape *t = wg_tape_new();
    wg_tensor *x = wg_input(t, logits, WG_SHAPE(2, 3));
    wg_tensor *loss = wg_softmax_cross_entropy(t, x, labels);
    wg_tensor *p = wg_softmax_cross_entropy_probs(loss);
    CHECK(p && wg_dim(p, 0) == 2 && wg_dim(p, 1) == 3, "probs shape");
    double z = exp(1) + exp(2) + exp(3);
    CHECK_CLOSE(wg_data(p)[2], exp(3) / z, 1e-6, 1e-7, "p[0][2]");
    double l0 = -log(exp(3) / z);
    /* row 1, label 0: log(e^-1 + e^0 + e^50) + 1, computed without overflow */
    double l1 = 50 + log(exp(-51) + exp(-50) + 1) + 1;
    CHECK_CLOSE(wg_item(loss), (l0 + l1) / 2, 1e-6, 0, "stable loss with a large logit");
    wg_tape_free(t);
}

/* Max-pooling's 2x2 fast paths (SSE2 four windows at a time with a scalar
 * tail; AVX-512 sixteen at a time under masks) against the rule written
 * out here: the first maximum of a window in row-major order wins, and a
 * NaN wins over any number (the first NaN over later ones). Values from
 * {-1, 0, 1, NaN} make ties and NaNs common; rows of 11, 19 (16 + 3) and
 * 5 windows, and an odd width whose last column no window reads. */
static void test_maxpool_ties_w(int W)
{
    enum { N = 2, C = 3, H = 4, OH = 2 };
    const int OW = W / 2;
    wg_tensor *x = wg_tensor_new(WG_SHAPE(N, C, H, W), true);
    wg_rng r = wg_rng_seed(11);
    for (int i = 0; i < N * C * H * W; i++) {
        uint32_t k = (uint32_t)(wg_rng_next(&r) % 4);
        wg_data(x)[i] = k == 3 ? (wg_real)NAN : (wg_real)k - 1;
    }
    wg_real dy[N * C * OH * 32];
    for (int i = 0; i < N * C * OH * OW; i++)
        dy[i] = (wg_real)(i + 1);
    for (int grad = 0; grad < 2; grad++) {
        wg_tape *t = wg_tape_new();
        wg_tape_set_grad(t, grad);
        wg_tensor *y = wg_maxpool2d(t, x, 2, 2);
        CHECK(y && wg_tape_status(t) == WG_OK, "%s", wg_tape_error(t));
        if (grad)
            CHECK(wg_backward_from(t, y, dy) == WG_OK, "%s", wg_tape_error(t));
        const wg_real *xv = wg_data(x);
        int bad = 0;
        for (int p = 0; p < N * C; p++)
            for (int i = 0; i < OH; i++)
                for (int j = 0; j < OW; j++) {
                    int best = -1;
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++) {
                            int k = p * H * W + (2 * i + a) * W + 2 * j + b;
                            bool nan_k = isnan(xv[k]), nan_best = best >= 0 && isnan(xv[best]);
                            if (best < 0 || (!nan_best && (nan_k || xv[k] > xv[best])))
                                best = k;
                        }
                    const int o = (p * OH + i) * OW + j;
                    wg_real got = wg_data(y)[o];
                    if (isnan(xv[best]) ? !isnan(got) : got != xv[best])
                        bad++;
                    if (grad && wg_grad(x)[best] != dy[o])
                        bad++;
                }
        CHECK(bad == 0, "maxpool2d 2x2 on width %d (%s): %d windows disagree with the rule", W,
              grad ? "recording" : "no-grad", bad);
        if (grad) {
            int nonzero = 0;
            for (int i = 0; i < N * C * H * W; i++)
                nonzero += wg_grad(x)[i] != 0;
            CHECK(nonzero == N * C * OH * OW, "one gradient per window, got %d", nonzero);
        }
        wg_tape_free(t);
    }
    wg_tensor_free(x);
}

/* relu's special values, as PyTorch: a NaN passes forward and passes the
 * gradient back; -0, 0 and negatives give 0 and no gradient; infinities
 * keep their side. Long enough (100,000) for the parallel vector path;
 * the special values sit at both ends and in the middle. */
static void test_relu_special(void)
{
    enum { N = 100000 };
    const wg_real sp[7] = { (wg_real)NAN, -1, 0, (wg_real)-0.0, 2, (wg_real)INFINITY,
                            (wg_real)-INFINITY };
    wg_tensor *x = wg_tensor_new(WG_SHAPE(N), true);
    static wg_real dy[N];
    for (int i = 0; i < N; i++) {
        wg_data(x)[i] = (i % 3 == 0) ? (wg_real)(i % 7) - 3 : sp[i % 7];
        dy[i] = (wg_real)(i % 5 + 1);
    }
    wg_tape *t = wg_tape_new();
    wg_tensor *y = wg_relu(t, x);
    CHECK(y && wg_backward_from(t, y, dy) == WG_OK, "%s", wg_tape_error(t));
    int bad = 0;
    for (int i = 0; y && i < N; i++) {
        wg_real v = wg_data(x)[i], got = wg_data(y)[i], g = wg_grad(x)[i];
        bool nan = isnan(v), pos = v > 0;
        wg_real want = nan ? v : pos ? v : 0, want_g = nan || pos ? dy[i] : 0;
        if ((nan ? !isnan(got) : got != want || signbit(got) != signbit(want)) || g != want_g)
            bad++;
    }
    CHECK(bad == 0, "relu: %d of %d elements wrong in value, sign of zero or gradient", bad, N);
    wg_tape_free(t);
    wg_tensor_free(x);
}

static void test_maxpool_ties(void)
{
    const int widths[] = { 22, 38, 10, 23 };
    for (int i = 0; i < 4; i++)
        test_maxpool_ties_w(widths[i]);
}

int main(void)
{
    test_version();
    test_params();
    test_hand_gradient();
    test_no_grad_and_names();
    test_reuse_and_vjp();
    test_probs();
    test_maxpool_ties();
    test_relu_special();
    return check_done("test_basics");
}
