/* train_mlp: the two-layer perceptron (784 -> 128 sigmoid -> 10) on
 * Fashion-MNIST with plain SGD.
 *
 * Leaves metrics.csv, curves.png, confusion.png and the first layer's
 * weights as 28x28 pictures before and after training. With --lr-study it
 * trains at the chosen rate, ten times it and a tenth of it, and plots the
 * three runs' curves together (lr_study.png, lr_study.csv). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "trainer.h"

typedef struct {
    ex_config cfg;
    int hidden, n_val;
    double dropout;
    wg_activation act;
    wg_schedule sched;
    wg_dataset train, val, test;
} setup;

static int draw_weights(const char *path, const char *title, wg_model *m, int hidden)
{
    wg_tensor *w = wg_params_find(wg_model_params(m), "fc1.weight");
    int n = hidden < 128 ? hidden : 128; /* a readable grid */
    ex_grid_style st = { .title = title,
                         .subtitle = "each tile: the 784 input weights of one hidden unit; red "
                                     "positive, blue negative",
                         .colormap = EX_CMAP_DIVERGING, .scaling = EX_SCALE_TILE };
    int rc = ex_plot_image_grid(path, wg_data(w), n, 28, 28, &st);
    if (rc != 0)
        fprintf(stderr, "warning: %s\n", ex_last_error());
    else
        printf("wrote %s\n", path);
    return rc;
}

/* One training run at learning rate `lr`; fills the trainer's history and
 * the test evaluation. `draw` adds the weight pictures. */
static int run(setup *s, double lr, double dropout, bool quiet, bool draw, const char *csv,
               ex_trainer *t, ex_eval *test_eval, int *confusion)
{
    wg_model *m = ex_mlp_dropout(784, s->hidden, 10, s->act, dropout, s->cfg.seed);
    wg_optim *o = m ? wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = lr }) : NULL;
    if (!o) {
        fprintf(stderr, "train_mlp: %s\n", wg_last_error());
        wg_model_free(m);
        return -1;
    }
    if (s->cfg.summary)
        exit(ex_print_summary(m, WG_SHAPE(1, 1, 28, 28)));
    char path[512];
    if (draw) {
        ex_path_join(path, sizeof path, s->cfg.out_dir, "weights_before.png");
        draw_weights(path, "MLP first-layer weights before training (random)", m, s->hidden);
    }
    *t = (ex_trainer){ .program = "train_mlp", .cfg = &s->cfg, .model = m, .opt = o,
                       .task = EX_CLASSIFY, .schedule = s->sched,
                       .base_lr = lr, .train = &s->train, .val = &s->val, .quiet = quiet };
    int rc = ex_train(t, csv);
    if (rc == 0)
        rc = ex_evaluate(m, &s->test, EX_CLASSIFY, EX_EVAL_BATCH, confusion, 10, test_eval);
    if (rc == 0 && draw) {
        ex_path_join(path, sizeof path, s->cfg.out_dir, "weights_after.png");
        draw_weights(path, "MLP first-layer weights after training", m, s->hidden);
    }
    wg_optim_free(o);
    wg_model_free(m);
    return rc;
}

static int lr_study(setup *s)
{
    const double rates[3] = { s->cfg.lr, 10 * s->cfg.lr, 0.1 * s->cfg.lr };
    ex_trainer runs[3];
    ex_eval ev[3];
    int confusion[100];
    char csv_path[512], png[512], names[3][64];
    ex_path_join(csv_path, sizeof csv_path, s->cfg.out_dir, "lr_study.csv");
    ex_csv *csv = ex_csv_open(csv_path, "lr,epoch,train_loss,train_acc,val_loss,val_acc,test_acc");
    if (!csv) {
        fprintf(stderr, "train_mlp: %s\n", ex_last_error());
        return -1;
    }
    int rc = 0, done = 0;
    for (int r = 0; r < 3 && rc == 0; r++, done++) {
        fprintf(stderr, "lr study: training at lr %g\n", rates[r]);
        rc = run(s, rates[r], s->dropout, false, false, NULL, &runs[r], &ev[r], confusion);
        if (rc != 0)
            break;
        printf("lr %-8g test accuracy %.4f\n", rates[r], ev[r].acc);
        for (int e = 0; e < runs[r].n_history; e++) {
            const ex_epoch_metrics *m = &runs[r].history[e];
            double row[7] = { rates[r], m->epoch, m->train_loss, m->train_acc, m->val_loss,
                              m->val_acc, ev[r].acc };
            ex_csv_row(csv, row, 7);
        }
    }
    ex_csv_close(csv);
    if (rc == 0) {
        ex_series acc[6], loss[6];
        double *val_acc[3], *val_loss[3], *tr_loss[3], *tr_acc[3];
        for (int r = 0; r < 3; r++) {
            int n = runs[r].n_history;
            val_acc[r] = malloc(sizeof(double) * (size_t)(n + 1));
            val_loss[r] = malloc(sizeof(double) * (size_t)(n + 1));
            tr_acc[r] = malloc(sizeof(double) * (size_t)(n + 1));
            tr_loss[r] = malloc(sizeof(double) * (size_t)(n + 1));
            for (int e = 0; e < n; e++) {
                val_acc[r][e] = runs[r].history[e].val_acc;
                val_loss[r][e] = runs[r].history[e].val_loss;
                tr_acc[r][e] = runs[r].history[e].train_acc;
                tr_loss[r][e] = runs[r].history[e].train_loss;
            }
            snprintf(names[r], sizeof names[r], "lr %g (test %.1f%%)", rates[r], 100 * ev[r].acc);
            loss[2 * r] = (ex_series){ names[r], NULL, tr_loss[r], n, false, r };
            loss[2 * r + 1] = (ex_series){ NULL, NULL, val_loss[r], n, true, r };
            acc[2 * r] = (ex_series){ names[r], NULL, tr_acc[r], n, false, r };
            acc[2 * r + 1] = (ex_series){ NULL, NULL, val_acc[r], n, true, r };
        }
        ex_panel panels[2] = {
            { "loss (solid: training, dashed: validation)", "cross-entropy", loss, 6, false, true, false },
            { "accuracy (solid: training, dashed: validation)", "accuracy (%)", acc, 6, true, false, false },
        };
        ex_path_join(png, sizeof png, s->cfg.out_dir, "lr_study.png");
        if (ex_plot_panels(png, "MLP on Fashion-MNIST: three learning rates", "epoch", panels, 2))
            fprintf(stderr, "warning: %s\n", ex_last_error());
        else
            printf("wrote %s\n", png);
        for (int r = 0; r < 3; r++)
            free(val_acc[r]), free(val_loss[r]), free(tr_acc[r]), free(tr_loss[r]);
        printf("wrote %s\n", csv_path);
        double secs = 0, imgs = 0;
        for (int r = 0; r < 3; r++)
            secs += runs[r].train_seconds, imgs += (double)runs[r].train_images;
        printf("test accuracy: %.4f\n", ev[0].acc); /* at --lr, the chosen rate */
        printf("train images/s: %.0f\n", secs > 0 ? imgs / secs : 0);
    }
    for (int r = 0; r < done; r++)
        ex_trainer_free(&runs[r]);
    return rc;
}

/* The same MLP trained without and with dropout (p = --dropout, or 0.5),
 * from the same start: training and validation curves on one plot, each
 * run's test accuracy in the legend. */
static int dropout_study(setup *s)
{
    const double ps[2] = { 0, s->dropout > 0 ? s->dropout : 0.5 };
    ex_trainer runs[2];
    ex_eval ev[2];
    int confusion[100];
    char csv_path[512], png[512], tr_name[2][96], va_name[2][96];
    ex_path_join(csv_path, sizeof csv_path, s->cfg.out_dir, "dropout_study.csv");
    ex_csv *csv = ex_csv_open(csv_path, "dropout,epoch,train_loss,train_acc,val_loss,val_acc,"
                                        "test_acc,kept_epoch");
    if (!csv) {
        fprintf(stderr, "train_mlp: %s\n", ex_last_error());
        return -1;
    }
    int rc = 0, done = 0;
    for (int r = 0; r < 2 && rc == 0; r++) {
        fprintf(stderr, "dropout study: training with dropout %g\n", ps[r]);
        rc = run(s, s->cfg.lr, ps[r], false, false, NULL, &runs[r], &ev[r], confusion);
        if (rc != 0)
            break;
        done++;
        printf("dropout %-4g test accuracy %.4f  (final train acc %.4f, val acc %.4f)\n", ps[r],
               ev[r].acc, runs[r].history[runs[r].n_history - 1].train_acc,
               runs[r].history[runs[r].n_history - 1].val_acc);
        for (int e = 0; e < runs[r].n_history; e++) {
            const ex_epoch_metrics *m = &runs[r].history[e];
            double row[8] = { ps[r], m->epoch, m->train_loss, m->train_acc, m->val_loss,
                              m->val_acc, ev[r].acc, runs[r].best_epoch };
            ex_csv_row(csv, row, 8);
        }
    }
    ex_csv_close(csv);
    if (rc == 0) {
        ex_series acc[4], loss[4];
        double *v[2][4];
        for (int r = 0; r < 2; r++) {
            int n = runs[r].n_history;
            for (int j = 0; j < 4; j++)
                v[r][j] = malloc(sizeof(double) * (size_t)(n + 1));
            for (int e = 0; e < n; e++) {
                v[r][0][e] = runs[r].history[e].train_loss;
                v[r][1][e] = runs[r].history[e].val_loss;
                v[r][2][e] = runs[r].history[e].train_acc;
                v[r][3][e] = runs[r].history[e].val_acc;
            }
            const char *what = ps[r] > 0 ? "dropout" : "no dropout";
            char p_txt[32] = "";
            if (ps[r] > 0)
                snprintf(p_txt, sizeof p_txt, " %g", ps[r]);
            snprintf(tr_name[r], sizeof tr_name[r], "%s%s: training", what, p_txt);
            snprintf(va_name[r], sizeof va_name[r], "%s%s: validation (test acc %.2f%%)", what,
                     p_txt, 100 * ev[r].acc);
            loss[2 * r] = (ex_series){ tr_name[r], NULL, v[r][0], n, false, r ? 3 : 0 };
            loss[2 * r + 1] = (ex_series){ va_name[r], NULL, v[r][1], n, true, r ? 3 : 0 };
            acc[2 * r] = (ex_series){ tr_name[r], NULL, v[r][2], n, false, r ? 3 : 0 };
            acc[2 * r + 1] = (ex_series){ va_name[r], NULL, v[r][3], n, true, r ? 3 : 0 };
        }
        ex_panel panels[2] = {
            { "loss (solid: training, dashed: validation)", "cross-entropy", loss, 4, false, false, false },
            { "accuracy (solid: training, dashed: validation)", "accuracy (%)", acc, 4, true, false, false },
        };
        char title[160];
        snprintf(title, sizeof title, "MLP 784-%d-10 (%s) on Fashion-MNIST, with and without "
                 "dropout", s->hidden, wg_activation_name(s->act));
        ex_path_join(png, sizeof png, s->cfg.out_dir, "dropout_study.png");
        if (ex_plot_panels(png, title, "epoch", panels, 2))
            fprintf(stderr, "warning: %s\n", ex_last_error());
        else
            printf("wrote %s\n", png);
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 4; j++)
                free(v[r][j]);
        printf("wrote %s\n", csv_path);
        printf("test accuracy: %.4f\n", ev[1].acc);
    }
    for (int r = 0; r < done; r++)
        ex_trainer_free(&runs[r]);
    return rc;
}

int main(int argc, char **argv)
{
    setup s = { .cfg = ex_config_defaults(), .hidden = 128, .n_val = 5000 };
    s.cfg.epochs = 10;
    s.cfg.batch = 64;
    s.cfg.lr = 0.5;
    const char *act = "sigmoid", *schedule = "cosine";
    bool study = false, dstudy = false;
    const ex_option extra[] = {
        { "hidden", EX_OPT_INT, &s.hidden, "N", "hidden units", 1, 65536 },
        { "activation", EX_OPT_STRING, &act, "NAME", "hidden activation: sigmoid, tanh, relu", 0, 0 },
        { "schedule", EX_OPT_STRING, &schedule, "NAME", EX_SCHEDULE_HELP, 0, 0 },
        { "val", EX_OPT_INT, &s.n_val, "N", "training images held out for validation", 0, 59000 },
        { "dropout", EX_OPT_DOUBLE, &s.dropout, "P", "dropout after the hidden activation, "
          "probability P of zeroing a unit in training (0: none)", 0, 0.95 },
        { "dropout-study", EX_OPT_FLAG, &dstudy, NULL, "train without and with dropout (--dropout, "
          "else 0.5) and plot both runs' curves", 0, 0 },
        { "lr-study", EX_OPT_FLAG, &study, NULL, "train at --lr, 10x and 0.1x it and plot the three runs", 0, 0 },
        { 0 },
    };
    const ex_program prog = { "train_mlp",
                              "Trains a two-layer perceptron (784 -> hidden -> 10) on Fashion-MNIST "
                              "with SGD.",
                              extra, 0, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &s.cfg);
    if (rc != EX_RUN)
        return rc;
    if (wg_activation_parse(act, &s.act) != WG_OK || s.act == WG_ACT_NONE)
        return ex_usage_error(&prog, &s.cfg, "unknown activation '%s' (sigmoid, tanh, relu)", act);
    wg_dataset all;
    rc = ex_start_training(&prog, &s.cfg, schedule, s.n_val, &s.sched, &all, &s.train, &s.val,
                           &s.test);
    if (rc != 0)
        return rc;
    if (s.dropout > 0 && !dstudy)
        printf("dropout %g after the hidden layer (training only)\n", s.dropout);
    printf("MLP 784 -> %d %s -> 10; %lld training, %lld validation, %lld test images\n", s.hidden,
           wg_activation_name(s.act), (long long)s.train.count, (long long)s.val.count,
           (long long)s.test.count);
    if (dstudy) {
        rc = dropout_study(&s);
    } else if (study) {
        rc = lr_study(&s);
    } else {
        char csv[512], path[512];
        ex_path_join(csv, sizeof csv, s.cfg.out_dir, "metrics.csv");
        ex_trainer t;
        ex_eval ev;
        int confusion[100];
        rc = run(&s, s.cfg.lr, s.dropout, false, true, csv, &t, &ev, confusion);
        if (rc == 0) {
            printf("\nconfusion matrix (rows: true class, columns: predicted):\n");
            ex_print_confusion(stdout, confusion, 10, ex_fashion_classes);
            ex_path_join(path, sizeof path, s.cfg.out_dir, "curves.png");
            char title[160] = "Two-layer MLP on Fashion-MNIST";
            if (t.best_epoch > 0)
                snprintf(title, sizeof title, "Two-layer MLP on Fashion-MNIST; early stopping "
                         "(--patience %d) kept epoch %d of %d", s.cfg.patience, t.best_epoch,
                         t.n_history);
            if (ex_plot_learning_curves(path, title, t.history, t.n_history))
                fprintf(stderr, "warning: %s\n", ex_last_error());
            else
                printf("wrote %s\n", path);
            ex_path_join(path, sizeof path, s.cfg.out_dir, "confusion.png");
            if (ex_plot_confusion(path, "Two-layer MLP, Fashion-MNIST test set", confusion, 10,
                                  ex_fashion_classes))
                fprintf(stderr, "warning: %s\n", ex_last_error());
            else
                printf("wrote %s\n", path);
            printf("wrote %s\n", csv);
            printf("test accuracy: %.4f\n", ev.acc);
            printf("train images/s: %.0f\n",
                   t.train_seconds > 0 ? t.train_images / t.train_seconds : 0);
        }
        ex_trainer_free(&t);
    }
    wg_dataset_free(&s.test);
    wg_dataset_free(&all);
    return rc == 0 ? 0 : 1;
}
