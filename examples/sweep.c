/* sweep: trains the two-layer perceptron over a grid of settings
 * (learning rate x hidden units x activation x dropout x batch size),
 * each run seeded, and compares them on the validation set.
 *
 * Writes sweep.csv (one row per run: its settings, seed, best validation
 * accuracy and its epoch, test accuracy, epochs run, seconds) and
 * sweep.png (validation accuracy per epoch, one line per setting), and
 * prints the best setting by validation accuracy. Every run of a setting
 * uses --seed (plus r for repeat r with --repeats), so a row can be
 * reproduced with train_mlp and the same options. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "trainer.h"

enum { MAX_VALUES = 16, MAX_RUNS = 4096 };

/* "0.1,0.5" -> {0.1, 0.5}: the values of option --`opt`, each in [lo, hi];
 * returns the count, or -1 with the bad token named in ex_last_error() */
static int parse_list(const char *opt, const char *s, double *out, double lo, double hi)
{
    int n = 0;
    while (s && *s) {
        char *end;
        double v = strtod(s, &end);
        size_t len = strcspn(s, ",");
        if (end == s || (*end && *end != ','))
            return ex_fail("--%s: '%.*s' is not a number", opt, (int)len, s);
        if (!(v >= lo && v <= hi))
            return ex_fail("--%s: %g is out of range (%g to %g)", opt, v, lo, hi);
        if (n == MAX_VALUES)
            return ex_fail("--%s: more than %d values", opt, MAX_VALUES);
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return n > 0 ? n : ex_fail("--%s: no values", opt);
}

static int parse_acts(const char *s, wg_activation *out)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == MAX_VALUES)
            return ex_fail("--activations: more than %d values", MAX_VALUES);
        if (wg_activation_parse(tok, &out[n]) != WG_OK || out[n] == WG_ACT_NONE)
            return ex_fail("--activations: unknown activation '%s' (sigmoid, tanh, relu)", tok);
        n++;
    }
    return n > 0 ? n : ex_fail("--activations: no values");
}

typedef struct {
    double lr, dropout;
    int hidden, batch;
    wg_activation act;
    uint64_t seed;
    double best_val, test_acc, seconds;
    int best_epoch, epochs;
    double *val_acc; /* per epoch */
    char name[96];
} run_result;

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    cfg.epochs = 5;
    cfg.batch = 64;
    const char *lrs = "0.1,0.5", *hiddens = "128", *acts = "sigmoid,relu", *drops = "0,0.5",
               *batches = "64";
    int n_val = 5000, repeats = 1;
    const ex_option extra[] = {
        { "lrs", EX_OPT_STRING, &lrs, "LIST", "learning rates, comma-separated", 0, 0 },
        { "hiddens", EX_OPT_STRING, &hiddens, "LIST", "hidden unit counts", 0, 0 },
        { "activations", EX_OPT_STRING, &acts, "LIST", "activations: sigmoid, tanh, relu", 0, 0 },
        { "dropouts", EX_OPT_STRING, &drops, "LIST", "dropout probabilities (0: none)", 0, 0 },
        { "batches", EX_OPT_STRING, &batches, "LIST", "mini-batch sizes", 0, 0 },
        { "repeats", EX_OPT_INT, &repeats, "N", "runs per setting, with seeds --seed, --seed+1, ...", 1, 100 },
        { "val", EX_OPT_INT, &n_val, "N", "training images held out for validation", 1, 59000 },
        { 0 },
    };
    const ex_program prog = { "sweep",
                              "Trains the MLP over a grid of settings (SGD, cosine schedule) and "
                              "compares them;\nthe default grid is 2 rates x 2 activations x "
                              "dropout on/off = 8 runs of 5 epochs.",
                              extra, EX_HIDE_LR | EX_HIDE_BATCH | EX_HIDE_CHECKPOINT |
                              EX_HIDE_MAX_STEPS | EX_HIDE_SUMMARY, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    double lr_v[MAX_VALUES], hid_v[MAX_VALUES], drop_v[MAX_VALUES], batch_v[MAX_VALUES];
    wg_activation act_v[MAX_VALUES];
    int n_lr, n_hid, n_drop, n_batch, n_act;
    if ((n_lr = parse_list("lrs", lrs, lr_v, 1e-9, 100)) < 0 ||
        (n_hid = parse_list("hiddens", hiddens, hid_v, 1, 65536)) < 0 ||
        (n_drop = parse_list("dropouts", drops, drop_v, 0, 0.95)) < 0 ||
        (n_batch = parse_list("batches", batches, batch_v, 1, 65536)) < 0 ||
        (n_act = parse_acts(acts, act_v)) < 0)
        return ex_usage_error(&prog, &cfg, "%s", ex_last_error());
    long total = (long)n_lr * n_hid * n_act * n_drop * n_batch * repeats;
    if (total > MAX_RUNS)
        return ex_usage_error(&prog, &cfg, "%ld runs is too many (at most %d)", total, MAX_RUNS);
    ex_apply_threads(&cfg);
    wg_dataset all, train, val, test;
    if (ex_load_data(&cfg, n_val, &all, &train, &val, &test) != 0)
        return 1;
    printf("sweep: %ld runs of %d epochs; %lld training, %lld validation, %lld test images\n",
           total, cfg.epochs, (long long)train.count, (long long)val.count, (long long)test.count);
    char csv_path[512], png[512];
    ex_path_join(csv_path, sizeof csv_path, cfg.out_dir, "sweep.csv");
    FILE *csv = fopen(ex_writes_files() ? csv_path : "/dev/null", "w"); /* rank 0 writes it */
    run_result *runs = calloc((size_t)total, sizeof *runs);
    if (!csv || !runs) {
        fprintf(stderr, "sweep: cannot write %s\n", csv_path);
        return 1;
    }
    setvbuf(csv, NULL, _IOLBF, 0);
    fprintf(csv, "run,lr,hidden,activation,dropout,batch,seed,best_val_acc,best_epoch,test_acc,"
                 "epochs,seconds\n");
    int done = 0, best = -1;
    double t_all = ex_now();
    for (int il = 0; il < n_lr; il++)
        for (int ih = 0; ih < n_hid; ih++)
            for (int ia = 0; ia < n_act; ia++)
                for (int id = 0; id < n_drop; id++)
                    for (int ib = 0; ib < n_batch; ib++)
                        for (int r = 0; r < repeats && rc == EX_RUN; r++) {
        run_result *R = &runs[done];
        *R = (run_result){ .lr = lr_v[il], .hidden = (int)hid_v[ih], .act = act_v[ia],
                           .dropout = drop_v[id], .batch = (int)batch_v[ib],
                           .seed = cfg.seed + (uint64_t)r };
        ex_config c = cfg;
        c.seed = R->seed;
        c.batch = R->batch;
        c.lr = R->lr;
        c.save_path = NULL;
        c.out_dir = NULL; /* no checkpoints */
        wg_schedule sched;
        ex_parse_schedule("cosine", c.epochs, &sched);
        wg_model *m = ex_mlp_dropout(784, R->hidden, 10, R->act, R->dropout, R->seed);
        wg_optim *o = m ? wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = R->lr }) : NULL;
        if (!o) {
            fprintf(stderr, "sweep: %s\n", wg_last_error());
            rc = 1;
            break;
        }
        ex_trainer t = { .program = "sweep", .cfg = &c, .model = m, .opt = o,
                         .task = EX_CLASSIFY, .schedule = sched, .base_lr = R->lr,
                         .train = &train, .val = &val, .quiet = true };
        double t0 = ex_now();
        ex_eval ev = { 0 };
        if (ex_train(&t, NULL) != 0 || ex_evaluate(m, &test, EX_CLASSIFY, EX_EVAL_BATCH, NULL, 0, &ev)) {
            rc = 1;
        } else {
            R->seconds = ex_now() - t0;
            R->epochs = t.n_history;
            R->test_acc = ev.acc;
            R->best_val = -1;
            R->val_acc = malloc(sizeof(double) * (size_t)(t.n_history + 1));
            for (int e = 0; e < t.n_history; e++) {
                R->val_acc[e] = t.history[e].val_acc;
                if (t.history[e].val_acc > R->best_val)
                    R->best_val = t.history[e].val_acc, R->best_epoch = e + 1;
            }
            snprintf(R->name, sizeof R->name, "lr %g, %d %s%s%s", R->lr, R->hidden,
                     wg_activation_name(R->act), R->dropout > 0 ? ", dropout " : "",
                     R->dropout > 0 ? "" : "");
            if (R->dropout > 0)
                snprintf(R->name + strlen(R->name), sizeof R->name - strlen(R->name), "%g",
                         R->dropout);
            if (n_batch > 1)
                snprintf(R->name + strlen(R->name), sizeof R->name - strlen(R->name),
                         ", batch %d", R->batch);
            if (repeats > 1)
                snprintf(R->name + strlen(R->name), sizeof R->name - strlen(R->name),
                         ", seed %llu", (unsigned long long)R->seed);
            fprintf(csv, "%d,%g,%d,%s,%g,%d,%llu,%.4f,%d,%.4f,%d,%.1f\n", done + 1, R->lr,
                    R->hidden, wg_activation_name(R->act), R->dropout, R->batch,
                    (unsigned long long)R->seed, R->best_val, R->best_epoch, R->test_acc,
                    R->epochs, R->seconds);
            printf("run %d/%ld  %-36s seed %llu  best val acc %.4f (epoch %d)  test acc %.4f  "
                   "%.1fs\n", done + 1, total, R->name, (unsigned long long)R->seed, R->best_val,
                   R->best_epoch, R->test_acc, R->seconds);
            if (best < 0 || R->best_val > runs[best].best_val)
                best = done;
            done++;
        }
        ex_trainer_free(&t);
        wg_optim_free(o);
        wg_model_free(m);
    }
    fclose(csv);
    if (done > 0) {
        const run_result *B = &runs[best];
        printf("best setting: %s (seed %llu): validation accuracy %.4f at epoch %d, test "
               "accuracy %.4f\n", B->name, (unsigned long long)B->seed, B->best_val,
               B->best_epoch, B->test_acc);
        printf("wrote %s\nsweep time: %.0fs\n", csv_path, ex_now() - t_all);
        ex_series *s = calloc((size_t)done, sizeof *s);
        char(*names)[128] = calloc((size_t)done, sizeof *names);
        for (int i = 0; s && names && i < done; i++) {
            snprintf(names[i], sizeof names[i], "%s: %.2f%%%s", runs[i].name,
                     100 * runs[i].best_val, i == best ? " (best)" : "");
            /* one colour per setting up to ten; dashed after that */
            s[i] = (ex_series){ names[i], NULL, runs[i].val_acc, runs[i].epochs, i >= 10, i % 10 };
        }
        ex_panel p = { "validation accuracy per epoch; legend: each setting's best",
                       "validation accuracy (%)", s, done, true, false, true };
        char title[160];
        snprintf(title, sizeof title, "MLP on Fashion-MNIST: %d settings, seed %llu", done,
                 (unsigned long long)cfg.seed);
        ex_path_join(png, sizeof png, cfg.out_dir, "sweep.png");
        if (!s || !names || ex_plot_panels(png, title, "epoch", &p, 1) != 0)
            fprintf(stderr, "warning: %s\n", ex_last_error());
        else
            printf("wrote %s\n", png);
        free(s);
        free(names);
    }
    for (int i = 0; i < done; i++)
        free(runs[i].val_acc);
    free(runs);
    wg_dataset_free(&test);
    wg_dataset_free(&all);
    return rc == EX_RUN ? 0 : 1;
}
