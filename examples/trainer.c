#include "trainer.h"

#include "plot.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The output directory when ex_load_data made it, so that a run which
 * then cannot start (a checkpoint that will not load) removes it again
 * and, as for every failure before training, leaves nothing behind. */
static char g_made_out[4096];

static void unmake_output(void)
{
    if (g_made_out[0])
        rmdir(g_made_out); /* only while it is still empty */
    g_made_out[0] = '\0';
}

void ex_apply_threads(const ex_config *cfg)
{
    /* results on stdout and progress on stderr interleave in order even
     * when stdout is a pipe or a file */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* past a file-size limit, writes then fail with EFBIG and are reported
     * (the previous checkpoint intact) instead of the signal killing us */
    signal(SIGXFSZ, SIG_IGN);
    if (cfg->threads > 0)
        wg_set_num_threads(cfg->threads);
}

/* prints "wrote PATH", or the reason the picture is missing as a warning */
static void report_picture(int rc, const char *path)
{
    if (rc != 0)
        fprintf(stderr, "warning: %s\n", ex_last_error());
    else
        printf("wrote %s\n", path);
}

int ex_report_classifier(const ex_trainer *t, const wg_dataset *test, const char *csv_path,
                         const char *curves_title, const char *confusion_title)
{
    int confusion[100];
    ex_eval ev;
    if (ex_evaluate(t->model, test, EX_CLASSIFY, EX_EVAL_BATCH, confusion, 10, &ev) != 0)
        return -1;
    char path[512];
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n");
    ex_print_confusion(stdout, confusion, 10, ex_fashion_classes);
    ex_path_join(path, sizeof path, t->cfg->out_dir, "curves.png");
    report_picture(ex_plot_learning_curves(path, curves_title, t->history, t->n_history), path);
    ex_path_join(path, sizeof path, t->cfg->out_dir, "confusion.png");
    report_picture(ex_plot_confusion(path, confusion_title, confusion, 10, ex_fashion_classes),
                   path);
    printf("wrote %s\n", csv_path);
    printf("test accuracy: %.4f\n", ev.acc);
    printf("train images/s: %.0f\n", t->train_seconds > 0 ? t->train_images / t->train_seconds : 0);
    return 0;
}

int ex_start_training(const ex_program *prog, ex_config *cfg, const char *schedule,
                      int64_t n_val, wg_schedule *sched, wg_dataset *all, wg_dataset *train,
                      wg_dataset *val, wg_dataset *test)
{
    if (ex_parse_schedule(schedule, cfg->epochs, sched) != 0)
        return ex_usage_error(prog, cfg, "%s", ex_last_error());
    ex_apply_threads(cfg);
    return ex_load_data(cfg, n_val, all, train, val, test) != 0 ? 1 : 0;
}

int ex_parse_schedule(const char *name, int epochs, wg_schedule *s)
{
    if (strcmp(name, "cosine") == 0)
        *s = (wg_schedule){ .kind = WG_SCHED_COSINE, .t_max = epochs > 0 ? epochs : 1 };
    else if (strcmp(name, "step") == 0)
        *s = (wg_schedule){ .kind = WG_SCHED_STEP, .step_size = 5, .gamma = 0.1 };
    else if (strcmp(name, "none") == 0)
        *s = (wg_schedule){ .kind = WG_SCHED_CONSTANT };
    else
        return ex_fail("unknown schedule '%s' (cosine, step, none)", name);
    return 0;
}

static int load_data(const ex_config *cfg, int64_t n_val, wg_dataset *all, wg_dataset *train,
                     wg_dataset *val, wg_dataset *test)
{
    memset(all, 0, sizeof *all);
    memset(test, 0, sizeof *test);
    const char *who = ex_program_name();
    if (wg_mnist_load(cfg->data_dir, true, all) != WG_OK ||
        wg_mnist_load(cfg->data_dir, false, test) != WG_OK) {
        fprintf(stderr, "%s: %s\n(install Debian's dataset-fashion-mnist, or point --data or "
                "WG_DATA_DIR at an MNIST-format directory)\n", who, wg_last_error());
        wg_dataset_free(all);
        return -1;
    }
    if (cfg->limit > 0) { /* --limit: the arrays stay whole, only the counts shrink */
        if (all->count > cfg->limit)
            all->count = cfg->limit;
        if (test->count > cfg->limit)
            test->count = cfg->limit;
    }
    if (n_val >= all->count)
        n_val = all->count / 10;
    struct stat st;
    const bool existed = stat(cfg->out_dir, &st) == 0;
    const char *why = wg_dataset_split(all, n_val, cfg->seed, train, val) != WG_OK ? wg_last_error()
                      : ex_mkdir_p(cfg->out_dir) != 0                                ? ex_last_error()
                                                                                     : NULL;
    if (!why && !existed)
        snprintf(g_made_out, sizeof g_made_out, "%s", cfg->out_dir);
    if (why) {
        fprintf(stderr, "%s: %s\n", who, why);
        wg_dataset_free(all);
        wg_dataset_free(test);
        return -1;
    }
    return 0;
}

/* Prints why a collective step stopped on a rank that did not fail
 * itself: the failing rank has printed its own reason. Rank 0 only. */
static void report_other_rank(const char *program, const char *what)
{
    if (wg_dist_rank() == 0)
        fprintf(stderr, "%s: %s: %s\n", program, what, wg_last_error());
}

int ex_load_data(const ex_config *cfg, int64_t n_val, wg_dataset *all, wg_dataset *train,
                 wg_dataset *val, wg_dataset *test)
{
    /* a rank that cannot read the data stops every rank */
    int rc = load_data(cfg, n_val, all, train, val, test);
    if (wg_dist_agree(rc == 0 ? WG_OK : WG_EIO) != WG_OK) {
        if (rc == 0) {
            report_other_rank("error", "stopping: another rank could not load the data");
            wg_dataset_free(test);
            wg_dataset_free(all);
        }
        return -1;
    }
    return 0;
}

typedef struct {
    wg_linear fc1, fc2;
    wg_activation act;
    double p;
} mlp_dropout;

static wg_tensor *mlp_dropout_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    const mlp_dropout *s = state;
    if (wg_ndim(x) > 2)
        x = wg_flatten(t, x);
    x = wg_activate(t, s->act, wg_linear_apply(t, &s->fc1, x), "fc1");
    x = wg_dropout(t, x, s->p, wg_model_training(m), wg_model_rng(m));
    return wg_linear_apply(t, &s->fc2, x);
}

wg_model *ex_mlp_dropout(int in, int hidden, int out, wg_activation act, double p, uint64_t seed)
{
    if (p <= 0)
        return wg_mlp(in, hidden, out, act, WG_INIT_DEFAULT, seed);
    mlp_dropout *s = calloc(1, sizeof *s);
    wg_model *m = s ? wg_model_new("mlp", mlp_dropout_forward, s, free, seed) : NULL;
    if (!m) {
        free(s);
        return NULL;
    }
    s->act = act;
    s->p = p;
    wg_params *P = wg_model_params(m);
    /* the same draws in the same order as wg_mlp(): the same start */
    if (wg_linear_init(&s->fc1, P, "fc1", in, hidden, true, WG_INIT_DEFAULT, wg_model_rng(m)) ||
        wg_linear_init(&s->fc2, P, "fc2", hidden, out, true, WG_INIT_DEFAULT, wg_model_rng(m)) ||
        wg_model_set_int(m, "in", in) || wg_model_set_int(m, "hidden", hidden) ||
        wg_model_set_int(m, "out", out) ||
        wg_model_set_str(m, "activation", wg_activation_name(act)) ||
        wg_model_set_int(m, "dropout_permille", (int64_t)lround(p * 1000))) {
        wg_model_free(m);
        return NULL;
    }
    return m;
}

double ex_batch_psnr(const wg_real *out, const wg_real *x, int n, int64_t pixels)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double se = 0;
        for (int64_t j = 0; j < pixels; j++) {
            double e = (double)out[i * pixels + j] - (double)x[i * pixels + j];
            se += e * e;
        }
        double mse = se / (double)pixels;
        /* a perfect reconstruction would be infinite dB: cap it at 120 */
        sum += 10 * log10(1 / (mse > 1e-12 ? mse : 1e-12));
    }
    return sum;
}

/* The loss of a batch: the tensor, or a poisoned one on error. */
static wg_tensor *batch_loss(wg_tape *tape, wg_model *m, ex_task task, const wg_real *x,
                             wg_shape xs, const int32_t *y, wg_tensor **out)
{
    wg_tensor *in = wg_input(tape, x, xs);
    *out = wg_model_forward(m, tape, in);
    if (task == EX_CLASSIFY)
        return wg_softmax_cross_entropy(tape, *out, y);
    return wg_mse(tape, *out, wg_flatten(tape, in));
}

/* The sums of an evaluation over all ranks, and whether any rank failed. */
static int sum_ranks(int *rc, double *loss, int64_t *right, double *psnr, int *confusion, int k)
{
    const int kk = confusion ? k * k : 0;
    double *v = malloc(sizeof *v * (size_t)(4 + kk));
    if (!v) {
        fprintf(stderr, "error: out of memory in evaluation\n");
        return -1;
    }
    v[0] = *rc != 0, v[1] = *loss, v[2] = (double)*right, v[3] = *psnr;
    for (int i = 0; i < kk; i++)
        v[4 + i] = confusion[i];
    wg_status s = wg_dist_sum(v, 4 + kk);
    if (s != WG_OK)
        fprintf(stderr, "error: evaluation: %s\n", wg_last_error());
    else if (v[0] > 0 && *rc == 0)
        report_other_rank("error", "evaluation failed on another rank");
    *rc = s != WG_OK || v[0] > 0 ? -1 : 0;
    *loss = v[1], *right = (int64_t)v[2], *psnr = v[3];
    for (int i = 0; i < kk; i++)
        confusion[i] = (int)v[4 + i];
    free(v);
    return *rc;
}

int ex_evaluate(wg_model *m, const wg_dataset *d, ex_task task, int batch, int *confusion, int k,
                ex_eval *r)
{
    memset(r, 0, sizeof *r);
    r->acc = r->psnr = NAN;
    if (confusion)
        memset(confusion, 0, sizeof(int) * (size_t)k * (size_t)k);
    const int64_t pixels = (int64_t)d->channels * d->rows * d->cols;
    wg_real *x = malloc(sizeof(wg_real) * (size_t)(batch * pixels));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)batch);
    wg_tape *tape = wg_tape_new();
    /* under mpirun each rank scores its slice and the counts are summed;
     * a rank that fails scores nothing but still joins the sum */
    int64_t first, count;
    wg_dist_shard(d->count, &first, &count);
    int rc = 0;
    if (!x || !y || !idx || !tape) {
        fprintf(stderr, "%s: out of memory in evaluation\n", ex_program_name());
        rc = -1;
        count = 0;
    }
    wg_tape_set_grad(tape, false);
    const bool was_training = wg_model_training(m);
    wg_model_set_training(m, false);
    double loss = 0, psnr = 0;
    int64_t right = 0;
    for (int64_t s = first; s < first + count; s += batch) {
        int n = (int)(first + count - s < batch ? first + count - s : batch);
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        wg_dataset_batch(d, idx, n, x, y);
        wg_tensor *out;
        wg_tensor *l = batch_loss(tape, m, task, x, WG_SHAPE(n, d->channels, d->rows, d->cols),
                                  task == EX_CLASSIFY ? y : NULL, &out);
        if (wg_tape_status(tape) != WG_OK) {
            fprintf(stderr, "%s: evaluation: %s\n", ex_program_name(), wg_tape_error(tape));
            rc = -1;
            break;
        }
        loss += (double)wg_item(l) * n;
        if (task == EX_CLASSIFY) {
            const wg_real *o = wg_data(out);
            int c = (int)wg_dim(out, 1);
            for (int i = 0; i < n; i++) {
                int p = ex_argmax(o + (int64_t)i * c, c);
                right += p == y[i];
                if (confusion && y[i] >= 0 && y[i] < k && p < k)
                    confusion[y[i] * k + p]++;
            }
        } else {
            psnr += ex_batch_psnr(wg_data(out), x, n, pixels);
        }
        wg_tape_reset(tape);
    }
    if (wg_dist_size() > 1 && sum_ranks(&rc, &loss, &right, &psnr, confusion, k) != 0)
        rc = -1;
    if (d->count > 0) {
        r->loss = loss / (double)d->count;
        if (task == EX_CLASSIFY)
            r->acc = (double)right / (double)d->count;
        else
            r->psnr = psnr / (double)d->count;
    }
    wg_model_set_training(m, was_training);
    free(x), free(y), free(idx);
    wg_tape_free(tape);
    return rc;
}

void ex_trainer_free(ex_trainer *t)
{
    free(t->history);
    t->history = NULL;
    t->n_history = 0;
}

/* "241.0 KiB" */
static const char *bytes_str(char *buf, size_t size, size_t n)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

void ex_print_memory(FILE *f, const wg_model *m, const wg_optim *o, const wg_tape *tape)
{
    wg_memory_info mem = wg_memory_usage(wg_model_params(m), o, tape);
    char a[32], b[32], c[32], d[32], e[32];
    fprintf(f, "memory: parameters %s, gradients %s, optimizer state %s (%s), "
            "tape %s held, peak %s\n", bytes_str(a, sizeof a, mem.params),
            bytes_str(b, sizeof b, mem.grads), bytes_str(c, sizeof c, mem.optim),
            o ? wg_optim_kind(o) : "none", bytes_str(d, sizeof d, mem.tape_held),
            bytes_str(e, sizeof e, mem.tape_peak));
}

/* Saves the run: model, optimizer, and where the data stream stands. */
static int save_checkpoint(ex_trainer *t, const char *path, int64_t epoch, int64_t position,
                           uint64_t data_seed)
{
    if (!ex_writes_files()) /* every rank holds the same state: rank 0 writes it */
        return 0;
    wg_train_state ts = { .epoch = epoch, .global_step = t->steps, .position = position,
                          .data_seed = data_seed, .rng = *wg_model_rng(t->model),
                          .base_lr = t->base_lr,
                          .best_epoch = t->best_epoch > 0 ? t->best_epoch : -1,
                          .best_val_loss = t->best_val_loss };
    if (wg_checkpoint_save(path, t->model, t->opt, &ts) != WG_OK) {
        fprintf(stderr, "%s: error: %s\n", t->program, wg_last_error());
        return -1;
    }
    return 0;
}

/* "train_lenet: error at epoch 2, step 120: why" */
static void step_error(const ex_trainer *t, int epoch, const char *why)
{
    fprintf(stderr, "%s: error at epoch %d, step %ld: %s\n", t->program, epoch, t->steps + 1, why);
}

/* Rank 0 alone shows progress and per-epoch lines. */
static bool quiet(const ex_trainer *t) { return t->quiet || wg_dist_rank() > 0; }

/* Loads --resume into the model and optimizer; returns where to continue. */
static int resume(ex_trainer *t, const char *path, wg_train_state *ts)
{
    /* every rank reads the file; one that cannot stops them all */
    wg_status s = wg_checkpoint_load(path, t->model, t->opt, ts, true, NULL);
    if (s != WG_OK)
        fprintf(stderr, "%s: cannot resume: %s\n", t->program, wg_last_error());
    if (wg_dist_agree(s) != WG_OK) {
        if (s == WG_OK)
            report_other_rank(t->program, "cannot resume on another rank");
        unmake_output();
        return -1;
    }
    *wg_model_rng(t->model) = ts->rng;
    t->steps = (long)ts->global_step;
    if (t->base_lr != ts->base_lr && !quiet(t))
        fprintf(stderr, "%s: resuming with the saved base learning rate %g\n", t->program,
                ts->base_lr);
    t->base_lr = ts->base_lr;
    if (!quiet(t))
        fprintf(stderr, "%s: resumed from %s at epoch %lld, image %lld, step %lld\n", t->program,
                path, (long long)ts->epoch + 1, (long long)ts->position,
                (long long)ts->global_step);
    return 0;
}

int ex_train(ex_trainer *t, const char *csv_path)
{
    const ex_config *cfg = t->cfg;
    const wg_dataset *d = t->train;
    const int64_t pixels = (int64_t)d->channels * d->rows * d->cols;
    char save_buf[512];
    const char *save_path = cfg->save_path;
    if (!save_path && cfg->out_dir) {
        ex_path_join(save_buf, sizeof save_buf, cfg->out_dir, "checkpoint.h5");
        save_path = save_buf;
    }
    wg_train_state ts = { .data_seed = cfg->seed };
    if (cfg->resume_path && resume(t, cfg->resume_path, &ts) != 0)
        return -1;
    /* the data order of a resumed run is the saved one */
    wg_batcher *b = wg_batcher_new(d, cfg->batch, true, ts.data_seed);
    wg_real *x = malloc(sizeof(wg_real) * (size_t)((int64_t)cfg->batch * pixels));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)cfg->batch);
    wg_tape *tape = wg_tape_new();
    t->history = calloc((size_t)(cfg->epochs > 0 ? cfg->epochs : 1), sizeof *t->history);
    /* an autoencoder's "accuracy" columns hold its PSNR, and say so; a
     * resumed run appends to its log */
    const char *header = t->task == EX_CLASSIFY ? EX_EPOCH_CSV_HEADER : EX_RECON_CSV_HEADER;
    ex_csv *csv = !csv_path ? NULL
                  : cfg->resume_path ? ex_csv_append(csv_path, header)
                                     : ex_csv_open(csv_path, header);
    bool ok = b && x && y && tape && t->history && (!csv_path || csv);
    if (ok && wg_batcher_seek(b, ts.epoch, ts.position) != WG_OK)
        ok = false;
    if (!ok)
        fprintf(stderr, "%s: error: %s\n", t->program,
                !b || (b && x && y && tape && t->history && (!csv_path || csv)) ? wg_last_error()
                : csv_path && !csv                                           ? ex_last_error()
                                                                             : "out of memory");
    /* all ranks start from rank 0's parameters, also after --resume */
    wg_status start = wg_dist_agree(ok ? WG_OK : WG_EIO);
    if (start == WG_OK)
        start = wg_dist_broadcast_params(wg_model_params(t->model));
    if (start != WG_OK) {
        if (ok)
            report_other_rank(t->program, "cannot start on another rank");
        wg_batcher_free(b), free(x), free(y), wg_tape_free(tape), ex_csv_close(csv);
        return -1;
    }
    /* --patience: the best epoch's parameters, copied from the contiguous block */
    const bool early = cfg->patience > 0 && t->val && t->val->count > 0;
    wg_params *P = wg_model_params(t->model);
    const int64_t n_params = wg_params_numel(P);
    wg_real *best = NULL;
    t->best_epoch = 0;
    t->best_val_loss = NAN;
    t->stopped_early = false;
    if (early && !(best = malloc(sizeof(wg_real) * (size_t)(n_params > 0 ? n_params : 1)))) {
        fprintf(stderr, "%s: error: out of memory for the early-stopping copy\n", t->program);
        wg_batcher_free(b), free(x), free(y), wg_tape_free(tape), ex_csv_close(csv);
        return -1;
    }
    int64_t last_epoch = 0, last_position = 0; /* of the last checkpoint written */
    ex_progress prog;
    int batches = (int)wg_batcher_batches(b);
    ex_progress_init(&prog, cfg->epochs, batches, cfg->batch, cfg->max_steps);
    int rc = 0;
    for (int e = (int)ts.epoch; e < cfg->epochs && rc == 0; e++) {
        if (cfg->max_steps > 0 && t->steps >= cfg->max_steps)
            break;
        double lr = wg_schedule_lr(&t->schedule, t->base_lr, e);
        wg_optim_set_lr(t->opt, lr);
        if (!quiet(t))
            ex_progress_epoch(&prog, e + 1);
        double t0 = ex_now(), loss_sum = 0, psnr_sum = 0;
        int64_t seen = 0, right = 0;
        int n, batch = (int)(ts.position / cfg->batch);
        bool stopped = false;
        wg_model_set_training(t->model, true);
        while ((n = wg_batcher_next(b, x, y)) > 0) {
            /* every rank holds the global batch and trains on its slice
             * (all of it in a world of 1); a rank without images still
             * joins the reduction, with weight 0 */
            int64_t first, count;
            wg_dist_shard(n, &first, &count);
            double sums[2] = { 0, 0 }; /* the slice's summed loss; correct or PSNR sum */
            wg_status st = wg_tape_set_batch_slice(tape, first, n);
            if (count > 0 && st == WG_OK) {
                wg_real *xs = x + first * pixels;
                const int32_t *ys = y + first;
                wg_tensor *out;
                wg_tensor *l = batch_loss(tape, t->model, t->task, xs,
                                          WG_SHAPE(count, d->channels, d->rows, d->cols), ys,
                                          &out);
                st = wg_backward(tape, l);
                if (st == WG_OK) {
                    sums[0] = (double)wg_item(l) * (double)count;
                    if (t->task == EX_CLASSIFY) {
                        int c = (int)wg_dim(out, 1);
                        for (int64_t i = 0; i < count; i++)
                            sums[1] += ex_argmax(wg_data(out) + i * c, c) == ys[i];
                    } else {
                        sums[1] = ex_batch_psnr(wg_data(out), xs, (int)count, pixels);
                    }
                }
            }
            const bool failed_here = st != WG_OK;
            if (failed_here)
                step_error(t, e + 1, wg_tape_status(tape) != WG_OK ? wg_tape_error(tape)
                                                                   : wg_last_error());
            st = wg_dist_allreduce_grads(P, count, n, sums, 2, st);
            if (st == WG_ESTATE && !failed_here)
                report_other_rank(t->program, "stopping");
            else if (st != WG_OK && !failed_here)
                step_error(t, e + 1, wg_last_error());
            if (st == WG_OK && (st = wg_optim_step(t->opt)) != WG_OK)
                step_error(t, e + 1, wg_last_error());
            if (st != WG_OK) {
                rc = -1;
                break;
            }
            /* a rank without images ran no dropout, so its generator did
             * not advance: it takes rank 0's, which always has images */
            if (n < wg_dist_size() &&
                wg_dist_broadcast(wg_model_rng(t->model), sizeof(wg_rng)) != WG_OK) {
                fprintf(stderr, "%s: error: %s\n", t->program, wg_last_error());
                rc = -1;
                break;
            }
            loss_sum += sums[0];
            if (t->task == EX_CLASSIFY)
                right += (int64_t)sums[1];
            else
                psnr_sum += sums[1];
            seen += n;
            wg_tape_reset(tape);
            t->steps++;
            batch++;
            if (!quiet(t))
                ex_progress_update(&prog, batch, loss_sum / (double)seen,
                                   t->task == EX_CLASSIFY ? (double)right / (double)seen : -1);
            if (cfg->max_steps > 0 && t->steps >= cfg->max_steps) {
                stopped = true; /* --max-steps: the checkpoint records the position */
                break;
            }
        }
        ts.position = 0;
        double dt = ex_now() - t0;
        t->train_seconds += dt;
        t->train_images += seen;
        if (rc != 0)
            break;
        if (!quiet(t))
            ex_progress_clear(&prog);
        ex_epoch_metrics *m = &t->history[t->n_history++];
        m->epoch = e + 1;
        m->train_loss = seen ? loss_sum / (double)seen : NAN;
        m->train_acc = !seen ? NAN
                       : t->task == EX_CLASSIFY ? (double)right / (double)seen
                                                : psnr_sum / (double)seen;
        m->lr = lr;
        m->seconds = dt;
        m->val_loss = m->val_acc = NAN;
        if (t->val && t->val->count > 0) {
            ex_eval ev;
            if (ex_evaluate(t->model, t->val, t->task, EX_EVAL_BATCH, NULL, 0, &ev) != 0) {
                rc = -1;
                break;
            }
            m->val_loss = ev.loss;
            m->val_acc = t->task == EX_CLASSIFY ? ev.acc : ev.psnr;
        }
        if (!quiet(t)) {
            if (t->task == EX_CLASSIFY)
                fprintf(stderr, "epoch %d/%d  lr %.4g  train loss %.4f acc %.4f  val loss %.4f "
                        "acc %.4f  %.1fs (%.0f images/s)\n", e + 1, cfg->epochs, lr, m->train_loss,
                        m->train_acc, m->val_loss, m->val_acc, dt, seen / dt);
            else
                fprintf(stderr, "epoch %d/%d  lr %.4g  train loss %.5f psnr %.2f dB  val loss "
                        "%.5f psnr %.2f dB  %.1fs (%.0f images/s)\n", e + 1, cfg->epochs, lr,
                        m->train_loss, m->train_acc, m->val_loss, m->val_acc, dt, seen / dt);
        }
        if (csv && ex_csv_epoch(csv, m) != 0) {
            fprintf(stderr, "%s: error: %s\n", t->program, ex_last_error());
            rc = -1;
        }
        int since_best = 0;
        if (early && rc == 0) {
            if (t->best_epoch == 0 || m->val_loss < t->best_val_loss) {
                t->best_epoch = m->epoch;
                t->best_val_loss = m->val_loss;
                memcpy(best, wg_params_values(P), sizeof(wg_real) * (size_t)n_params);
            }
            since_best = m->epoch - t->best_epoch;
        }
        if (save_path && rc == 0) {
            int64_t be, served;
            wg_batcher_position(b, &be, &served);
            /* a stop on the epoch's last batch resumes at the next epoch */
            if (stopped && served < d->count)
                last_epoch = be, last_position = served;
            else
                last_epoch = e + 1, last_position = 0;
            rc = save_checkpoint(t, save_path, last_epoch, last_position, ts.data_seed);
        }
        /* rank 0 alone wrote the log and the checkpoint, so its outcome is
         * everyone's; and once an epoch, a cheap check that the ranks still
         * hold bitwise the same parameters */
        if (wg_dist_size() > 1) {
            wg_status agreed = wg_dist_agree(rc == 0 ? WG_OK : WG_EIO);
            if (agreed == WG_OK)
                agreed = wg_dist_params_equal(P);
            if (agreed != WG_OK) {
                if (rc == 0)
                    report_other_rank(t->program, "stopping");
                rc = -1;
                break;
            }
        }
        if (stopped)
            break;
        if (early && since_best >= cfg->patience && e + 1 < cfg->epochs) {
            t->stopped_early = true;
            break;
        }
    }
    if (early && rc == 0 && t->best_epoch > 0) {
        memcpy(wg_params_values(P), best, sizeof(wg_real) * (size_t)n_params);
        int last = t->n_history > 0 ? t->history[t->n_history - 1].epoch : 0;
        if (!quiet(t)) {
            if (t->stopped_early)
                printf("early stopping: no better validation loss for %d epochs after epoch %d; "
                       "stopped after epoch %d\n", cfg->patience, t->best_epoch, last);
            printf("early stopping: kept epoch %d (validation loss %.4f)\n", t->best_epoch,
                   t->best_val_loss);
        }
        /* the checkpoint holds the kept parameters (and where the run stopped) */
        if (save_path && t->best_epoch != last)
            rc = save_checkpoint(t, save_path, last_epoch, last_position, ts.data_seed);
    }
    free(best);
    wg_model_set_training(t->model, true);
    if (ex_csv_close(csv) != 0 && rc == 0) {
        fprintf(stderr, "%s: error: %s\n", t->program, ex_last_error());
        rc = -1;
    }
    /* the final checkpoint and log were rank 0's alone */
    if (wg_dist_size() > 1 && wg_dist_agree(rc == 0 ? WG_OK : WG_EIO) != WG_OK)
        rc = -1;
    if (rc == 0 && !quiet(t))
        ex_print_memory(stdout, t->model, t->opt, tape);
    wg_batcher_free(b);
    free(x);
    free(y);
    wg_tape_free(tape);
    return rc;
}
