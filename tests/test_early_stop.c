/* Early stopping in the examples' shared trainer (examples/trainer.c):
 * on a small noisy synthetic set where a wide MLP at a high learning rate
 * overfits, the validation loss falls and then rises; with --patience the
 * run must stop, report the best epoch, and leave the model holding
 * exactly the parameters it had after that epoch (compared with a run of
 * that many epochs from the same seed, and with the checkpoint written).
 * Also checks that evaluation runs in evaluation mode (dropout off) and
 * restores the model's mode. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../examples/trainer.h"
#include "check.h"

enum { SIDE = 4, PIX = SIDE * SIDE, N_TRAIN = 48, N_VAL = 400, HIDDEN = 64 };

/* Two classes told apart by the mean brightness of the left and right
 * halves, with noise; `flip` of the labels are wrong (memorised later). */
static void make_set(wg_dataset *d, int n, uint64_t seed, double flip)
{
    memset(d, 0, sizeof *d);
    d->count = n;
    d->channels = 1;
    d->rows = d->cols = SIDE;
    d->classes = 2;
    d->images = malloc((size_t)n * PIX);
    d->labels = malloc(sizeof(int32_t) * (size_t)n);
    wg_rng r = wg_rng_seed(seed);
    for (int i = 0; i < n; i++) {
        int c = wg_rng_uniform(&r) < 0.5;
        for (int p = 0; p < PIX; p++) {
            int left = p % SIDE < SIDE / 2;
            double v = 0.5 + ((left == c) ? 0.12 : -0.12) + 0.35 * (wg_rng_uniform(&r) - 0.5) * 2;
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            d->images[(size_t)i * PIX + p] = (uint8_t)lround(v * 255);
        }
        d->labels[i] = wg_rng_uniform(&r) < flip ? 1 - c : c;
    }
}

/* One run from seed 7 with the given epochs and patience; the model is
 * returned (caller frees). */
static wg_model *train(const wg_dataset *tr, const wg_dataset *va, int epochs, int patience,
                       const char *save, double dropout, ex_trainer *t)
{
    ex_config cfg = ex_config_defaults();
    cfg.epochs = epochs;
    cfg.batch = 8;
    cfg.seed = 7;
    cfg.patience = patience;
    cfg.save_path = save;
    cfg.out_dir = NULL;
    wg_model *m = ex_mlp_dropout(PIX, HIDDEN, 2, WG_ACT_RELU, dropout, 7);
    wg_optim *o = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.5 });
    *t = (ex_trainer){ .program = "test_early_stop", .cfg = &cfg, .model = m, .opt = o,
                       .task = EX_CLASSIFY, .schedule = { .kind = WG_SCHED_CONSTANT },
                       .base_lr = 0.5, .train = tr, .val = va, .quiet = true };
    int rc = ex_train(t, NULL);
    CHECK(rc == 0, "ex_train failed (epochs %d, patience %d)", epochs, patience);
    t->cfg = NULL;
    wg_optim_free(o);
    return m;
}

static double max_abs_diff(wg_model *a, wg_model *b)
{
    wg_params *pa = wg_model_params(a), *pb = wg_model_params(b);
    int64_t n = wg_params_numel(pa);
    if (n != wg_params_numel(pb))
        return INFINITY;
    const wg_real *va = wg_params_values(pa), *vb = wg_params_values(pb);
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)va[i] - (double)vb[i]));
    return d;
}

int main(void)
{
    wg_set_num_threads(1);
    wg_dataset tr, va;
    make_set(&tr, N_TRAIN, 1, 0.35);
    make_set(&va, N_VAL, 2, 0.0);

    /* the scenario: without early stopping, the validation loss has its
     * minimum strictly inside the run */
    const int E = 40, PATIENCE = 4;
    ex_trainer full;
    wg_model *mf = train(&tr, &va, E, 0, NULL, 0, &full);
    int argmin = 0;
    for (int e = 1; e < full.n_history; e++)
        if (full.history[e].val_loss < full.history[argmin].val_loss)
            argmin = e;
    printf("validation loss without early stopping: min %.4f at epoch %d, last %.4f at %d\n",
           full.history[argmin].val_loss, argmin + 1, full.history[full.n_history - 1].val_loss,
           full.n_history);
    CHECK(full.n_history == E, "ran %d of %d epochs", full.n_history, E);
    CHECK(argmin > 0 && argmin + PATIENCE < E - 1,
          "the validation loss should fall then rise (minimum at epoch %d)", argmin + 1);
    CHECK(full.best_epoch == 0 && !full.stopped_early, "patience 0 must not stop");

    /* with patience: stops PATIENCE epochs after the first minimum that
     * stays the best that long, keeps that epoch */
    char save[] = "/tmp/test_early_stop_XXXXXX";
    int fd = mkstemp(save);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    ex_trainer es;
    wg_model *me = train(&tr, &va, E, PATIENCE, save, 0, &es);
    int k = es.best_epoch;
    printf("patience %d: stopped after epoch %d, kept epoch %d (validation loss %.4f)\n",
           PATIENCE, es.n_history, k, es.best_val_loss);
    CHECK(es.stopped_early, "the run should stop early");
    CHECK(k >= 1 && es.n_history == k + PATIENCE, "stopped after %d epochs, best %d",
          es.n_history, k);
    for (int e = 0; e < es.n_history; e++) {
        CHECK(es.history[e].val_loss >= es.best_val_loss, "epoch %d beat the kept one", e + 1);
        CHECK(es.history[e].val_loss == full.history[e].val_loss,
              "epoch %d differs from the full run", e + 1);
    }
    CHECK(es.best_val_loss == es.history[k - 1].val_loss, "best loss is the history's");

    /* the kept parameters are those after epoch k: a run of k epochs */
    ex_trainer ref;
    wg_model *mk = train(&tr, &va, k, 0, NULL, 0, &ref);
    CHECK(max_abs_diff(me, mk) == 0, "restored parameters differ from epoch %d's by %g", k,
          max_abs_diff(me, mk));
    CHECK(max_abs_diff(me, mf) > 0, "the kept parameters should not be the last ones");
    ex_eval ev;
    CHECK(ex_evaluate(me, &va, EX_CLASSIFY, 64, NULL, 0, &ev) == 0, "evaluate");
    CHECK_CLOSE(ev.loss, es.best_val_loss, 1e-6, 1e-7, "validation loss of the kept model");

    /* the checkpoint holds the kept parameters and the best epoch */
    wg_model *mc = wg_mlp(PIX, HIDDEN, 2, WG_ACT_RELU, WG_INIT_DEFAULT, 99);
    wg_train_state ts;
    CHECK(wg_checkpoint_load(save, mc, NULL, &ts, true, NULL) == WG_OK, "load: %s",
          wg_last_error());
    CHECK(max_abs_diff(mc, mk) == 0, "checkpoint parameters differ from epoch %d's", k);
    CHECK(ts.best_epoch == k, "checkpoint best_epoch %lld, want %d", (long long)ts.best_epoch, k);
    CHECK(ts.epoch == es.n_history, "checkpoint epoch %lld, want %d", (long long)ts.epoch,
          es.n_history);
    remove(save);

    /* evaluation is in evaluation mode: with dropout, two evaluations of
     * a model left in training mode agree, and the mode is kept */
    ex_trainer dt;
    wg_model *md = train(&tr, &va, 3, 0, NULL, 0.5, &dt);
    CHECK(wg_model_training(md), "ex_train should leave the model in training mode");
    ex_eval e1, e2;
    ex_evaluate(md, &va, EX_CLASSIFY, 64, NULL, 0, &e1);
    ex_evaluate(md, &va, EX_CLASSIFY, 64, NULL, 0, &e2);
    CHECK(e1.loss == e2.loss, "evaluation with dropout active: %g vs %g", e1.loss, e2.loss);
    CHECK_CLOSE(e1.loss, dt.history[2].val_loss, 1e-5, 1e-7, "validation loss is the evaluation-mode one");
    CHECK(wg_model_training(md), "ex_evaluate should restore training mode");

    ex_trainer_free(&full), ex_trainer_free(&es), ex_trainer_free(&ref), ex_trainer_free(&dt);
    wg_model_free(mf), wg_model_free(me), wg_model_free(mk), wg_model_free(mc), wg_model_free(md);
    free(tr.images), free(tr.labels), free(va.images), free(va.labels);
    return check_done("test_early_stop");
}
