/* Three interleaved spirals in the plane, separated by a small MLP trained
 * with plain gradient descent: the smallest complete wengert program that
 * learns something a linear model cannot.
 *
 *   ./examples/spirals [steps]      (default 2000)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wengert.h>

#define CLASSES 3
#define PER_CLASS 100
#define N (CLASSES * PER_CLASS)
#define HIDDEN 64

int main(int argc, char **argv)
{
    /* the command line as every example reads it: --help to stdout with
     * status 0; a bad argument named on stderr, then the usage, status 2 */
    static const char usage[] = "usage: spirals [STEPS]\n"
                                "Separates three spirals with a small MLP; STEPS of gradient "
                                "descent (0 to 100000000, default 2000).\n";
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    char *end = NULL;
    long steps = argc > 1 ? strtol(argv[1], &end, 10) : 2000;
    if (argc > 2) {
        fprintf(stderr, "spirals: unexpected argument '%s'\n\n%s", argv[2], usage);
        return 2;
    }
    if (argc > 1 && (*end || end == argv[1] || steps < 0 || steps > 100000000)) {
        fprintf(stderr, "spirals: '%s' is not a step count (0 to 100000000)\n\n%s", argv[1],
                usage);
        return 2;
    }
    /* the data: point i of class c on an arm of angle 4 r + 2 pi c / 3, noisy */
    static wg_real points[N * 2];
    static int32_t labels[N];
    wg_rng rng = wg_rng_seed(7);
    for (int c = 0; c < CLASSES; c++)
        for (int i = 0; i < PER_CLASS; i++) {
            double r = (double)i / PER_CLASS;
            double a = 4 * r + 2 * M_PI * c / CLASSES + 0.2 * wg_rng_normal(&rng);
            points[2 * (c * PER_CLASS + i)] = (wg_real)(r * sin(a));
            points[2 * (c * PER_CLASS + i) + 1] = (wg_real)(r * cos(a));
            labels[c * PER_CLASS + i] = c;
        }

    /* parameters with PyTorch's linear-layer names and [out x in] layout */
    wg_params *P = wg_params_new();
    wg_tensor *w1 = wg_param(P, "fc1.weight", WG_SHAPE(HIDDEN, 2));
    wg_tensor *b1 = wg_param(P, "fc1.bias", WG_SHAPE(HIDDEN));
    wg_tensor *w2 = wg_param(P, "fc2.weight", WG_SHAPE(CLASSES, HIDDEN));
    wg_tensor *b2 = wg_param(P, "fc2.bias", WG_SHAPE(CLASSES));
    if (!w1 || !b1 || !w2 || !b2) {
        fprintf(stderr, "spirals: %s\n", wg_last_error());
        return 1;
    }
    wg_params_uniform(P, &rng, -0.7, 0.7);

    wg_tape *tape = wg_tape_new();
    const wg_real lr = 1.0f;
    double loss = 0, acc = 0;
    for (int step = 0; step <= steps; step++) {
        wg_tensor *x = wg_input(tape, points, WG_SHAPE(N, 2));
        wg_tensor *h = wg_tanh(tape, wg_add(tape, wg_matmul_nt(tape, x, w1), b1));
        wg_tensor *logits = wg_add(tape, wg_matmul_nt(tape, h, w2), b2);
        wg_tensor *l = wg_softmax_cross_entropy(tape, logits, labels);
        if (wg_backward(tape, l) != WG_OK) {
            fprintf(stderr, "spirals: %s\n", wg_tape_error(tape));
            return 1;
        }
        loss = wg_item(l);
        int right = 0;
        for (int i = 0; i < N; i++) {
            const wg_real *row = wg_data(logits) + i * CLASSES;
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                best = row[c] > row[best] ? c : best;
            right += best == labels[i];
        }
        acc = (double)right / N;
        if (step % 250 == 0)
            printf("step %5d  loss %.4f  accuracy %.3f\n", step, loss, acc);
        /* plain gradient descent over the one contiguous parameter block */
        wg_real *v = wg_params_values(P), *g = wg_params_grads(P);
        if (step < steps)
            for (int64_t i = 0; i < wg_params_numel(P); i++)
                v[i] -= lr * g[i];
        wg_params_zero_grad(P);
        wg_tape_reset(tape);
    }
    printf("final loss: %.4f\n", loss);
    printf("train accuracy: %.4f\n", acc);
    wg_tape_free(tape);
    wg_params_free(P);
    return 0;
}
