/* Whole-model gradient checks in double precision, every parameter of the
 * four built-in models, plus their structure: PyTorch names, shapes and
 * parameter counts, initialisation bounds, and rebuilding from the
 * architecture string. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <wengert.h>

typedef struct {
    wg_model *m;
    const wg_real *x;
    wg_shape xshape;
    const int32_t *labels; /* NULL: mean squared error against the input */
} model_case;

static wg_tensor *loss_of(wg_tape *t, wg_tensor *const *in, int n, void *ctx)
{
    (void)in;
    (void)n;
    model_case *c = ctx;
    wg_tensor *x = wg_input(t, c->x, c->xshape);
    wg_tensor *y = wg_model_forward(c->m, t, x);
    if (c->labels)
        return wg_softmax_cross_entropy(t, y, c->labels);
    return wg_mse(t, y, wg_flatten(t, x));
}

static void check_model(const char *what, wg_model *m, wg_shape xshape, int classes,
                        int max_checks)
{
    int64_t n = 1;
    for (int i = 0; i < xshape.ndim; i++)
        n *= xshape.dim[i];
    wg_real *x = malloc((size_t)n * sizeof *x);
    int32_t labels[8];
    wg_rng r = wg_rng_seed(17);
    for (int64_t i = 0; i < n; i++)
        x[i] = (wg_real)wg_rng_uniform(&r); /* pixels in [0, 1], as the data loaders give */
    for (int i = 0; i < 8; i++)
        labels[i] = classes ? (int32_t)wg_rng_below(&r, (uint64_t)classes) : 0;
    model_case c = { m, x, xshape, classes ? labels : NULL };
    wg_params *P = wg_model_params(m);
    int np = wg_params_count(P);
    wg_tensor *in[32];
    for (int i = 0; i < np; i++)
        in[i] = wg_params_at(P, i);
    wg_gradcheck_opts o = { .max_checks = max_checks };
    wg_gradcheck_report rep;
    wg_status s = wg_gradcheck(loss_of, &c, in, np, &o, &rep);
    CHECK(s == WG_OK, "%s: %s", what, s == WG_EGRAD ? rep.message : wg_last_error());
    printf("%-12s %d parameter tensors, %d elements checked, worst %.3f of tolerance\n", what,
           np, rep.checked, rep.worst_ratio);
    free(x);
}

static void check_names(wg_model *m, const char *const *names, const int64_t *numels, int count,
                        int64_t total)
{
    wg_params *P = wg_model_params(m);
    CHECK(wg_params_count(P) == count, "%s: %d parameters", wg_model_kind(m),
          wg_params_count(P));
    for (int i = 0; i < count && i < wg_params_count(P); i++) {
        wg_tensor *t = wg_params_at(P, i);
        CHECK(strcmp(wg_name(t), names[i]) == 0, "%s: parameter %d is %s, expected %s",
              wg_model_kind(m), i, wg_name(t), names[i]);
        CHECK(wg_numel(t) == numels[i], "%s: %s has %lld values", wg_model_kind(m), names[i],
              (long long)wg_numel(t));
    }
    CHECK(wg_params_numel(P) == total, "%s: %lld values, expected %lld", wg_model_kind(m),
          (long long)wg_params_numel(P), (long long)total);
}

/* PyTorch's default: every value of a layer within 1/sqrt(fan_in) */
static void check_init_bounds(wg_model *m)
{
    wg_params *P = wg_model_params(m);
    for (int i = 0; i < wg_params_count(P); i++) {
        wg_tensor *t = wg_params_at(P, i);
        const char *nm = wg_name(t);
        wg_tensor *w = t;
        if (strstr(nm, ".bias")) {
            char wname[64];
            snprintf(wname, sizeof wname, "%.*s.weight", (int)(strstr(nm, ".bias") - nm), nm);
            w = wg_params_find(P, wname);
        }
        int64_t fan_in = wg_numel(w) / wg_dim(w, 0);
        double bound = 1 / sqrt((double)fan_in), mx = 0;
        for (int64_t k = 0; k < wg_numel(t); k++)
            mx = fmax(mx, fabs(wg_data(t)[k]));
        CHECK(mx <= bound && mx > 0.8 * bound, "%s: max |value| %g vs bound %g", nm, mx, bound);
    }
}

int main(void)
{
    /* LeNet-5: the classic count and PyTorch's names */
    wg_model *lenet = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    static const char *const ln[] = { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                      "fc1.weight",   "fc1.bias",   "fc2.weight",   "fc2.bias",
                                      "fc3.weight",   "fc3.bias" };
    static const int64_t lc[] = { 150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10 };
    check_names(lenet, ln, lc, 10, 61706);
    check_init_bounds(lenet);
    check_model("lenet5", lenet, WG_SHAPE(2, 1, 28, 28), 10, 24);

    wg_model *mlp = wg_mlp(20, 7, 5, WG_ACT_SIGMOID, WG_INIT_DEFAULT, 2);
    static const char *const mn[] = { "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" };
    static const int64_t mc[] = { 140, 7, 35, 5 };
    check_names(mlp, mn, mc, 4, 187);
    check_init_bounds(mlp);
    check_model("mlp", mlp, WG_SHAPE(4, 20), 5, 0);

    wg_model *mlp_tanh = wg_mlp(12, 6, 3, WG_ACT_TANH, WG_INIT_XAVIER, 3);
    check_model("mlp tanh", mlp_tanh, WG_SHAPE(3, 12), 3, 0);

    wg_model *ae = wg_autoencoder(30, 8, 6, 8, WG_INIT_DEFAULT, 4);
    static const char *const an[] = { "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                      "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias" };
    static const int64_t ac[] = { 240, 8, 48, 6, 48, 8, 240, 30 };
    check_names(ae, an, ac, 8, 628);
    check_model("autoencoder", ae, WG_SHAPE(3, 30), 0, 0);

    wg_model *sm = wg_softmax_regression(16, 4, WG_INIT_DEFAULT, 5);
    static const char *const sn[] = { "fc.weight", "fc.bias" };
    static const int64_t sc[] = { 64, 4 };
    check_names(sm, sn, sc, 2, 68);
    check_model("softmax", sm, WG_SHAPE(5, 16), 4, 0);

    /* the architecture string rebuilds the same structure */
    wg_model *models[] = { lenet, mlp, mlp_tanh, ae, sm };
    for (int i = 0; i < 5; i++) {
        const char *json = wg_model_arch_json(models[i]);
        wg_model *copy = wg_model_from_json(json, 99);
        CHECK(copy != NULL, "rebuild %s: %s", json, wg_last_error());
        if (!copy)
            continue;
        CHECK(strcmp(wg_model_arch_json(copy), json) == 0, "%s vs %s", wg_model_arch_json(copy),
              json);
        CHECK(wg_params_numel(wg_model_params(copy)) == wg_params_numel(wg_model_params(models[i])),
              "same size");
        wg_model_free(copy);
    }
    printf("%s\n", wg_model_arch_json(mlp));
    CHECK(strcmp(wg_model_arch_json(mlp), "{\"kind\":\"mlp\",\"in\":20,\"hidden\":7,\"out\":5,"
                                          "\"activation\":\"sigmoid\",\"init\":\"default\"}") == 0,
          "mlp json");
    CHECK(wg_model_from_json("{\"kind\":\"resnet\"}", 1) == NULL &&
              strstr(wg_last_error(), "model_from_json: unknown model kind \"resnet\"") ==
                  wg_last_error(),
          "unknown kind: %s", wg_last_error());
    CHECK(wg_model_from_json("{\"kind\":\"mlp\",\"in\":-3,\"hidden\":2,\"out\":2}", 1) == NULL &&
              !strcmp(wg_last_error(), "model_from_json: mlp architecture: \"in\" missing or "
                                       "out of range (1 to 16777216)"),
          "bad size: %s", wg_last_error());
    CHECK(wg_model_from_json("{\"kind\":\"mlp\",", 1) == NULL, "truncated json");
    CHECK(wg_model_from_json("[1,2]", 1) == NULL, "not an object");

    /* the same seed gives the same parameters */
    wg_model *again = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    CHECK(memcmp(wg_params_values(wg_model_params(again)), wg_params_values(wg_model_params(lenet)),
                 (size_t)61706 * sizeof(wg_real)) == 0, "seeded init reproducible");
    wg_model_free(again);

    for (int i = 0; i < 5; i++)
        wg_model_free(models[i]);
    return check_done("test_models");
}
