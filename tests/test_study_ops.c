/* Dropout's modes and statistics, train/eval mode on a model, and anomaly
 * mode naming the op that first made a NaN, forward or backward. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wengert.h>

static void test_dropout(void)
{
    enum { N = 100000 };
    static wg_real x[N];
    for (int i = 0; i < N; i++)
        x[i] = 1;
    wg_tape *t = wg_tape_new();
    wg_rng r = wg_rng_seed(1);
    wg_tensor *in = wg_input(t, x, WG_SHAPE(N));
    wg_tensor *y = wg_dropout(t, in, 0.3, true, &r);
    int zeros = 0, odd = 0;
    double sum = 0;
    for (int i = 0; i < N; i++) {
        zeros += wg_data(y)[i] == 0;
        sum += wg_data(y)[i];
        odd += wg_data(y)[i] != 0 && fabs(wg_data(y)[i] - 1 / 0.7) > 1e-6;
    }
    CHECK(odd == 0, "%d kept values not scaled by 1 / (1 - p)", odd);
    CHECK(fabs(zeros / (double)N - 0.3) < 0.01, "dropped share %.4f, expected 0.3", zeros / (double)N);
    CHECK(fabs(sum / N - 1) < 0.02, "the mean is kept: %.4f", sum / N);
    /* evaluation: the input itself */
    CHECK(wg_dropout(t, in, 0.3, false, &r) == in, "no dropout outside training");
    CHECK(wg_dropout(t, in, 0, true, &r) == in, "p = 0 is the identity");
    /* the same seed, the same mask */
    wg_rng r1 = wg_rng_seed(9), r2 = wg_rng_seed(9);
    wg_tensor *a = wg_dropout(t, in, 0.5, true, &r1), *b = wg_dropout(t, in, 0.5, true, &r2);
    CHECK(memcmp(wg_data(a), wg_data(b), sizeof(wg_real) * N) == 0, "seeded masks repeat");
    /* errors */
    wg_dropout(t, in, 1.0, true, &r);
    CHECK(wg_tape_status(t) == WG_EINVAL && strstr(wg_tape_error(t), "dropout: probability 1"),
          "p = 1 rejected: %s", wg_tape_error(t));
    const double bad_p[3] = { -0.1, NAN, 1.5 };
    for (int i = 0; i < 3; i++) {
        wg_tape_reset(t);
        in = wg_input(t, x, WG_SHAPE(N));
        wg_dropout(t, in, bad_p[i], true, &r);
        CHECK(wg_tape_status(t) == WG_EINVAL && strstr(wg_tape_error(t), "dropout: probability"),
              "p = %g rejected: %s", bad_p[i], wg_tape_error(t));
    }
    wg_tape_reset(t);
    in = wg_input(t, x, WG_SHAPE(N));
    wg_dropout(t, in, 0.5, true, NULL);
    CHECK(wg_tape_status(t) == WG_EINVAL && strstr(wg_tape_error(t), "generator"),
          "training without a generator rejected: %s", wg_tape_error(t));
    /* leaky_relu's slope must be finite */
    wg_tape_reset(t);
    in = wg_input(t, x, WG_SHAPE(N));
    wg_leaky_relu(t, in, NAN);
    CHECK(wg_tape_status(t) == WG_EINVAL && strstr(wg_tape_error(t), "leaky_relu: slope nan"),
          "NaN slope rejected: %s", wg_tape_error(t));
    wg_tape_reset(t);
    in = wg_input(t, x, WG_SHAPE(N));
    wg_leaky_relu(t, in, -INFINITY);
    CHECK(wg_tape_status(t) == WG_EINVAL &&
              !strcmp(wg_tape_error(t), "leaky_relu: slope -inf must be finite"),
          "infinite slope rejected: %s", wg_tape_error(t));
    wg_tape_free(t);
}

static void test_train_eval(void)
{
    wg_model *m = wg_mlp(4, 3, 2, WG_ACT_RELU, WG_INIT_DEFAULT, 1);
    CHECK(wg_model_training(m), "models start in training mode");
    wg_model_set_training(m, false);
    CHECK(!wg_model_training(m), "eval mode");
    wg_model_set_training(m, true);
    CHECK(wg_model_training(m), "back to training");
    CHECK(!wg_model_training(NULL), "NULL model is not training");
    wg_model_free(m);
}

/* a custom op whose backward returns NaN for one element */
static wg_status id_fwd(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)n, (void)ctx;
    memcpy(wg_data(out), wg_data(in[0]), sizeof(wg_real) * (size_t)wg_numel(out));
    return WG_OK;
}
static wg_status nan_bwd(wg_tensor *const *in, int n, wg_tensor *out, void *ctx)
{
    (void)n, (void)ctx;
    for (int64_t i = 0; i < wg_numel(out); i++)
        wg_grad(in[0])[i] += i == 2 ? (wg_real)NAN : wg_grad(out)[i];
    return WG_OK;
}
static const wg_custom_op bad_grad = { "bad_grad", id_fwd, nan_bwd };

static void test_anomaly(void)
{
    wg_params *P = wg_params_new();
    wg_tensor *w = wg_param(P, "w", WG_SHAPE(4));
    const wg_real v[4] = { 1, 2, INFINITY, 4 };
    const wg_real zero[4] = { 0, 0, 0, 0 };
    wg_tape *t = wg_tape_new();

    /* off: the NaN is only found at the loss */
    wg_set_anomaly(false);
    wg_tensor *y = wg_sum(t, wg_mul(t, wg_mul(t, wg_input(t, v, WG_SHAPE(4)), wg_input(t, zero, WG_SHAPE(4))), w));
    CHECK(wg_tape_status(t) == WG_OK, "no check without anomaly mode");
    CHECK(wg_backward(t, y) == WG_ENONFINITE && strstr(wg_tape_error(t), "loss from sum"),
          "the loss op named: %s", wg_tape_error(t));
    wg_tape_reset(t);

    /* on: the first op that made it, inf * 0 in the first mul, node 0 */
    wg_set_anomaly(true);
    CHECK(wg_anomaly(), "anomaly on");
    wg_tensor *a = wg_mul(t, wg_input(t, v, WG_SHAPE(4)), w); /* inf * w: recorded */
    (void)a;
    CHECK(wg_tape_status(t) == WG_ENONFINITE, "forward anomaly caught: %s", wg_tape_error(t));
    CHECK(strstr(wg_tape_error(t), "mul: anomaly: the forward pass produced") &&
              strstr(wg_tape_error(t), "at element 2") &&
              strstr(wg_tape_error(t), "node 0"), "%s", wg_tape_error(t));
    wg_tape_reset(t);

    /* backward: the custom op's gradient */
    for (int i = 0; i < 4; i++)
        wg_data(w)[i] = 1;
    wg_tensor *in[1] = { w };
    y = wg_sum(t, wg_tanh(t, wg_custom(t, &bad_grad, in, 1, WG_SHAPE(4), NULL)));
    CHECK(wg_backward(t, y) == WG_ENONFINITE, "backward anomaly caught");
    CHECK(strstr(wg_tape_error(t), "bad_grad: anomaly: the backward pass of node 0") &&
              strstr(wg_tape_error(t), "input 0, w"), "%s", wg_tape_error(t));
    wg_set_anomaly(false);
    wg_tape_free(t);
    wg_params_free(P);
}

/* Run as `test_study_ops --anomaly-env` in a fresh process: the library
 * reads WG_ANOMALY once, when it first starts. Exit 0 if anomaly mode is
 * on from the start and names the op that makes a NaN, 1 if it is off and
 * the NaN is found only at the loss, 2 otherwise. */
static int anomaly_env_child(void)
{
    const bool on = wg_anomaly();
    const wg_real v[2] = { INFINITY, 1 };
    wg_params *P = wg_params_new();
    wg_tensor *w = wg_param(P, "w", WG_SHAPE(2)); /* zeros: inf * 0 */
    wg_tape *t = wg_tape_new();
    wg_tensor *y = wg_sum(t, wg_mul(t, wg_input(t, v, WG_SHAPE(2)), w));
    wg_status fwd = wg_tape_status(t);
    bool named = strstr(wg_tape_error(t), "mul: anomaly: the forward pass produced") != NULL;
    wg_status bwd = wg_backward(t, y);
    wg_tape_free(t);
    wg_params_free(P);
    if (on && fwd == WG_ENONFINITE && named)
        return 0;
    if (!on && fwd == WG_OK && bwd == WG_ENONFINITE)
        return 1;
    return 2;
}

/* WG_ANOMALY=1 in the environment switches anomaly mode on; 0 or unset
 * leaves it off */
static void test_anomaly_env(const char *self)
{
    const char *values[3] = { "1", "0", NULL };
    const int want[3] = { 0, 1, 1 };
    for (int i = 0; i < 3; i++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            if (values[i])
                setenv("WG_ANOMALY", values[i], 1);
            else
                unsetenv("WG_ANOMALY");
            execl(self, self, "--anomaly-env", (char *)NULL);
            _exit(3);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == want[i],
              "WG_ANOMALY=%s: child status %d, expected %d", values[i] ? values[i] : "(unset)",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, want[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--anomaly-env"))
        return anomaly_env_child();
    char self[1024] = "/proc/self/exe";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = 0;
    test_dropout();
    test_train_eval();
    test_anomaly();
    test_anomaly_env(self);
    return check_done("test_study_ops");
}
