/* Seeing inside: LeNet-5's layer table against the hand calculation of
 * docs/inspect.md, the text summary, a user model's rows, named
 * activations checked against values computed here from the parameters,
 * the DOT export of a training step, and the memory report. */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wengert.h>

typedef struct {
    const char *name, *kind;
    wg_shape shape;
    int64_t params, macs;
} row;

static bool same_shape(wg_shape a, wg_shape b)
{
    if (a.ndim != b.ndim)
        return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.dim[i] != b.dim[i])
            return false;
    return true;
}

static void check_rows(const char *what, const wg_layer_info *got, int n, const row *want, int m)
{
    CHECK(n == m, "%s: %d rows, expected %d", what, n, m);
    for (int i = 0; i < n && i < m; i++) {
        char a[96], b[96];
        CHECK(strcmp(got[i].name, want[i].name) == 0, "%s row %d: name '%s', expected '%s'",
              what, i, got[i].name, want[i].name);
        CHECK(strcmp(got[i].kind, want[i].kind) == 0, "%s row %d (%s): kind '%s', expected '%s'",
              what, i, want[i].name, got[i].kind, want[i].kind);
        CHECK(same_shape(got[i].shape, want[i].shape), "%s row %d (%s): shape %s, expected %s",
              what, i, want[i].name, wg_shape_str(got[i].shape, a, sizeof a),
              wg_shape_str(want[i].shape, b, sizeof b));
        CHECK(got[i].params == want[i].params, "%s row %d (%s): %lld parameters, expected %lld",
              what, i, want[i].name, (long long)got[i].params, (long long)want[i].params);
        CHECK(got[i].macs == want[i].macs, "%s row %d (%s): %lld MACs, expected %lld", what, i,
              want[i].name, (long long)got[i].macs, (long long)want[i].macs);
    }
}

/* The hand calculation of docs/inspect.md, per image. */
static void test_lenet_layers(void)
{
    const row want[] = {
        { "input", "input", WG_SHAPE(1, 1, 28, 28), 0, 0 },
        /* 6 x 28 x 28 outputs, each 1 x 5 x 5 MACs; 6 x 25 weights + 6 biases */
        { "conv1", "conv2d", WG_SHAPE(1, 6, 28, 28), 156, 4704 * 25 },
        { "conv1.tanh", "tanh", WG_SHAPE(1, 6, 28, 28), 0, 0 },
        { "pool1", "maxpool2d", WG_SHAPE(1, 6, 14, 14), 0, 0 },
        /* 16 x 10 x 10 outputs, each 6 x 5 x 5 MACs; 16 x 150 weights + 16 biases */
        { "conv2", "conv2d", WG_SHAPE(1, 16, 10, 10), 2416, 1600 * 150 },
        { "conv2.tanh", "tanh", WG_SHAPE(1, 16, 10, 10), 0, 0 },
        { "pool2", "maxpool2d", WG_SHAPE(1, 16, 5, 5), 0, 0 },
        { "fc1", "linear", WG_SHAPE(1, 120), 400 * 120 + 120, 400 * 120 },
        { "fc1.tanh", "tanh", WG_SHAPE(1, 120), 0, 0 },
        { "fc2", "linear", WG_SHAPE(1, 84), 120 * 84 + 84, 120 * 84 },
        { "fc2.tanh", "tanh", WG_SHAPE(1, 84), 0, 0 },
        { "fc3", "linear", WG_SHAPE(1, 10), 84 * 10 + 10, 84 * 10 },
    };
    const int m = (int)(sizeof want / sizeof want[0]);
    wg_model *net = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    wg_rng before = *wg_model_rng(net);
    wg_layer_info rows[32];
    int n = -1;
    wg_status s = wg_model_layers(net, WG_SHAPE(1, 1, 28, 28), rows, 32, &n);
    CHECK(s == WG_OK, "%s", wg_last_error());
    check_rows("lenet5", rows, n, want, m);
    int64_t params = 0, macs = 0;
    for (int i = 0; i < n; i++) {
        params += rows[i].params;
        macs += rows[i].macs;
    }
    CHECK(params == 61706, "LeNet-5 parameters %lld", (long long)params);
    CHECK(macs == 416520, "LeNet-5 MACs %lld", (long long)macs);
    CHECK(memcmp(&before, wg_model_rng(net), sizeof before) == 0, "generator changed");

    /* a batch of 4: four times the work, the same parameters; flat rows work too */
    s = wg_model_layers(net, WG_SHAPE(4, 784), rows, 32, &n);
    CHECK(s == WG_OK && n == m, "flat input: %s, %d rows", wg_last_error(), n);
    macs = 0;
    for (int i = 0; i < n; i++)
        macs += rows[i].macs;
    CHECK(macs == 4 * 416520, "batch 4: %lld MACs", (long long)macs);
    CHECK(n == m && rows[7].params == 48120, "fc1 with flat input: %lld", (long long)rows[7].params);

    /* too few rows: the count says how many there are */
    s = wg_model_layers(net, WG_SHAPE(1, 1, 28, 28), rows, 3, &n);
    CHECK(s == WG_ERANGE && n == m, "cap 3: %s, %d", wg_strerror(s), n);
    /* a wrong input shape is the forward's error */
    s = wg_model_layers(net, WG_SHAPE(1, 3, 28, 28), rows, 32, &n);
    CHECK(s == WG_ESHAPE && strstr(wg_last_error(), "conv2d"), "bad shape: %s: %s",
          wg_strerror(s), wg_last_error());
    CHECK(wg_model_layers(NULL, WG_SHAPE(1), rows, 32, &n) == WG_EINVAL, "NULL model");

    /* the text table */
    size_t len = 0;
    char small[64];
    s = wg_model_summary(net, WG_SHAPE(1, 1, 28, 28), small, sizeof small, &len);
    CHECK(s == WG_ERANGE && len > sizeof small && strlen(small) == sizeof small - 1,
          "small buffer: %s, len %zu", wg_strerror(s), len);
    char *text = malloc(len + 1);
    size_t len2 = 0;
    s = wg_model_summary(net, WG_SHAPE(1, 1, 28, 28), text, len + 1, &len2);
    CHECK(s == WG_OK && len2 == len && strlen(text) == len, "%s", wg_last_error());
    CHECK(strstr(text, "61,706") && strstr(text, "416,520") && strstr(text, "117,600") &&
              strstr(text, "pool2") && strstr(text, "[1 x 16 x 5 x 5]") &&
              strstr(text, "61,706 trainable, 0 frozen"),
          "summary text:\n%s", text);
    printf("%s", text);
    free(text);
    wg_model_free(net);
}

/* A model written without names: conv without bias, relu, flatten,
 * linear; one parameter it never uses; frozen parameters. */
static wg_tensor *plain_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    (void)state;
    wg_params *p = wg_model_params(m);
    x = wg_relu(t, wg_conv2d(t, x, wg_params_find(p, "features.0.weight"), NULL, 1, 1));
    return wg_add(t, wg_matmul_nt(t, wg_flatten(t, x), wg_params_find(p, "head.w")),
                  wg_params_find(p, "head.b"));
}

static void test_user_model(void)
{
    wg_model *m = wg_model_new("plain", plain_forward, NULL, NULL, 3);
    wg_params *p = wg_model_params(m);
    wg_param(p, "features.0.weight", WG_SHAPE(4, 2, 3, 3));
    wg_param(p, "head.w", WG_SHAPE(5, 4 * 6 * 6));
    wg_param(p, "head.b", WG_SHAPE(5));
    wg_param(p, "spare", WG_SHAPE(7));
    wg_params_freeze(p, "features", true);
    const row want[] = {
        { "input", "input", WG_SHAPE(1, 2, 6, 6), 0, 0 },
        { "", "conv2d", WG_SHAPE(1, 4, 6, 6), 72, 144 * 18 },
        { "", "relu", WG_SHAPE(1, 4, 6, 6), 0, 0 },
        { "", "linear", WG_SHAPE(1, 5), 5 * 144 + 5, 5 * 144 },
    };
    wg_layer_info rows[8];
    int n = 0;
    wg_status s = wg_model_layers(m, WG_SHAPE(1, 2, 6, 6), rows, 8, &n);
    CHECK(s == WG_OK, "%s", wg_last_error());
    check_rows("plain", rows, n, want, 4);
    char text[2048];
    s = wg_model_summary(m, WG_SHAPE(1, 2, 6, 6), text, sizeof text, NULL);
    CHECK(s == WG_OK && strstr(text, "804 (732 trainable, 72 frozen)") &&
              strstr(text, "7 not used"),
          "%s", text);
    wg_model_free(m);
}

static wg_real sigmoid(double v) { return (wg_real)(1 / (1 + exp(-v))); }

/* Named activations: the MLP's fc1 = x Wᵀ + b and fc1.sigmoid, computed
 * here from the layer's parameters. */
static void test_find(void)
{
    enum { N = 3, IN = 5, H = 4, OUT = 2 };
    wg_model *m = wg_mlp(IN, H, OUT, WG_ACT_SIGMOID, WG_INIT_DEFAULT, 11);
    wg_real x[N * IN];
    wg_rng r = wg_rng_seed(5);
    for (int i = 0; i < N * IN; i++)
        x[i] = (wg_real)(2 * wg_rng_uniform(&r) - 1);
    wg_tape *t = wg_tape_new();
    wg_tensor *y = wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(N, IN)));
    CHECK(wg_tape_status(t) == WG_OK, "%s", wg_tape_error(t));

    const wg_tensor *fc1 = wg_tape_find(t, "fc1"), *act = wg_tape_find(t, "fc1.sigmoid");
    CHECK(fc1 && act, "fc1 %p, fc1.sigmoid %p", (const void *)fc1, (const void *)act);
    CHECK(wg_tape_find(t, "fc2") == y, "fc2 is the output");
    const wg_tensor *W = wg_params_find(wg_model_params(m), "fc1.weight");
    const wg_tensor *b = wg_params_find(wg_model_params(m), "fc1.bias");
    CHECK(wg_tape_find(t, "fc1.weight") == W, "a parameter by name");
    CHECK(wg_tape_find(t, "fc3") == NULL && wg_tape_find(t, "fc") == NULL, "unknown names");
    CHECK(wg_tape_find(NULL, "fc1") == NULL && wg_tape_find(t, NULL) == NULL, "NULL arguments");
    if (fc1 && act) {
        CHECK(same_shape(wg_shape_of(fc1), WG_SHAPE(N, H)), "fc1 shape");
        for (int i = 0; i < N; i++)
            for (int j = 0; j < H; j++) {
                double z = wg_data(b)[j];
                for (int k = 0; k < IN; k++)
                    z += (double)x[i * IN + k] * wg_data(W)[j * IN + k];
                CHECK_CLOSE(wg_data(fc1)[i * H + j], z, 1e-5, 1e-6, "fc1[%d][%d]", i, j);
                CHECK_CLOSE(wg_data(act)[i * H + j], sigmoid(z), 1e-5, 1e-6,
                            "fc1.sigmoid[%d][%d]", i, j);
            }
    }
    /* a named input is found too */
    wg_tape_reset(t);
    wg_tensor *in = wg_set_name(wg_input(t, x, WG_SHAPE(N, IN)), "pixels");
    wg_model_forward(m, t, in);
    CHECK(wg_tape_find(t, "pixels") == in, "a named input");
    /* inference mode records nothing, so there is nothing to find */
    wg_tape_reset(t);
    wg_tape_set_grad(t, false);
    wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(N, IN)));
    CHECK(wg_tape_find(t, "fc1") == NULL, "found on an inference tape");
    CHECK(wg_tape_to_dot(t, "unused.dot", NULL, false) == WG_ESTATE, "dot of an empty record");
    wg_tape_free(t);
    wg_model_free(m);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* A LeNet-5 training step as DOT, with gradient norms; then memory. */
static void test_dot_and_memory(void)
{
    wg_model *net = wg_lenet5(10, WG_INIT_DEFAULT, 2);
    wg_params_freeze(wg_model_params(net), "fc3", true);
    wg_optim *sgd = wg_sgd(wg_model_params(net), (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    enum { N = 2 };
    wg_real x[N * 784];
    wg_rng r = wg_rng_seed(8);
    for (int i = 0; i < N * 784; i++)
        x[i] = (wg_real)wg_rng_uniform(&r);
    const int32_t labels[N] = { 3, 7 };
    wg_tape *t = wg_tape_new();
    wg_tensor *logits = wg_model_forward(net, t, wg_input(t, x, WG_SHAPE(N, 1, 28, 28)));
    wg_tensor *loss = wg_softmax_cross_entropy(t, logits, labels);
    CHECK(wg_backward(t, loss) == WG_OK, "%s", wg_tape_error(t));

    char path[64];
    snprintf(path, sizeof path, "test_inspect_%d.dot", (int)getpid());
    wg_status s = wg_tape_to_dot(t, path, "LeNet-5 & a <step>", true);
    CHECK(s == WG_OK, "%s", wg_last_error());
    char *dot = slurp(path);
    CHECK(dot != NULL, "cannot read %s", path);
    if (dot) {
        int nodes = wg_tape_size(t);
        CHECK(strncmp(dot, "digraph", 7) == 0, "starts: %.20s", dot);
        CHECK(count(dot, "shape=box, style=\"rounded,filled\"") == nodes, "%d op boxes",
              count(dot, "shape=box, style=\"rounded,filled\""));
        CHECK(count(dot, "shape=ellipse") == 10, "10 parameters: %d", count(dot, "shape=ellipse"));
        CHECK(count(dot, "(frozen)") == 2, "2 frozen: %d", count(dot, "(frozen)"));
        CHECK(count(dot, "shape=parallelogram") == 1, "1 input");
        CHECK(count(dot, "subgraph cluster_") == 5, "5 layers: %d", count(dot, "subgraph cluster_"));
        CHECK(count(dot, "peripheries=2") == 1, "one final result");
        CHECK(strstr(dot, "<b>conv1.tanh</b>") && strstr(dot, "#15</font> softmax_cross_entropy"),
              "labels");
        CHECK(strstr(dot, "LeNet-5 &amp; a &lt;step&gt;"), "title escaped");
        /* every op and trainable parameter with a gradient; not the input
         * nor the frozen fc3 */
        CHECK(count(dot, "grad norm") == nodes + 8, "%d gradient norms for %d ops",
              count(dot, "grad norm"), nodes);
        int edges = count(dot, " -> ");
        /* conv 3 inputs x2, maxpool 1 x2, tanh 1 x4, flatten 1, matmul 2 x3, add 2 x3, loss 1 */
        CHECK(edges == 6 + 2 + 4 + 1 + 6 + 6 + 1, "%d edges", edges);
        free(dot);
    }
    remove(path);
    CHECK(wg_tape_to_dot(t, "/nonexistent-dir/x.dot", NULL, false) == WG_EIO &&
              strstr(wg_last_error(), "/nonexistent-dir/x.dot"),
          "%s", wg_last_error());
    CHECK(wg_tape_to_dot(NULL, path, NULL, false) == WG_EINVAL, "NULL tape");

    /* memory: parameters and gradients, the momentum buffer, the tape */
    const size_t real = sizeof(wg_real), numel = 61706;
    wg_memory_info mem = wg_memory_usage(wg_model_params(net), sgd, t);
    CHECK(mem.params == numel * real && mem.grads == numel * real, "params %zu, grads %zu",
          mem.params, mem.grads);
    CHECK(mem.optim >= numel * real && mem.optim < numel * real + 1024, "sgd %zu", mem.optim);
    size_t held, peak;
    wg_tape_memory(t, &held, &peak);
    CHECK(mem.tape_held == held && mem.tape_peak == peak && peak > 0 && held >= peak,
          "tape %zu/%zu", mem.tape_held, mem.tape_peak);
    wg_optim *plain = wg_sgd(wg_model_params(net), (wg_sgd_opts){ .lr = 0.1 });
    wg_optim *adam = wg_adam(wg_model_params(net), (wg_adam_opts){ .lr = 0.1 });
    CHECK(wg_optim_memory(plain) < 1024, "plain sgd %zu", wg_optim_memory(plain));
    CHECK(wg_optim_memory(adam) >= 2 * numel * real && wg_optim_memory(adam) < 2 * numel * real + 1024,
          "adam %zu", wg_optim_memory(adam));
    wg_memory_info none = wg_memory_usage(NULL, NULL, NULL);
    CHECK(none.params == 0 && none.optim == 0 && none.tape_held == 0, "all NULL");
    wg_optim_free(plain);
    wg_optim_free(adam);
    wg_optim_free(sgd);
    wg_tape_free(t);
    wg_model_free(net);
}

int main(void)
{
    test_lenet_layers();
    test_user_model();
    test_find();
    test_dot_and_memory();
    return check_done("test_inspect");
}
