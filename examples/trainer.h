/* The training loop the examples share: epochs over a shuffled training
 * set, a validation pass per epoch, a learning-rate schedule, progress,
 * the CSV log, and the final test evaluation with its summary lines. A
 * program builds its model and optimizer, fills an ex_trainer and calls
 * ex_train(); everything model-specific stays in the program. */
#ifndef EX_TRAINER_H
#define EX_TRAINER_H

#include "common.h"

/** What the model is trained to do. */
typedef enum ex_task {
    EX_CLASSIFY,    /**< logits vs labels: softmax cross-entropy, accuracy */
    EX_RECONSTRUCT, /**< output vs input: mean squared error, PSNR */
} ex_task;

/** Evaluation of a model over a data set. */
typedef struct ex_eval {
    double loss;    /**< mean loss per batch element */
    double acc;     /**< classification: accuracy; else NAN */
    double psnr;    /**< reconstruction: mean over images of 10 log10(1 / MSE); else NAN */
    int *confusion; /**< classification: k x k counts, if the caller passed a matrix */
} ex_eval;

/** CSV header of a reconstruction run: its "accuracy" is the PSNR in dB. */
#define EX_RECON_CSV_HEADER "epoch,train_loss,train_psnr_db,val_loss,val_psnr_db,lr,seconds"

/** The sum over n images of 10 log10(1 / MSE(out_i, x_i)), in dB. */
double ex_batch_psnr(const wg_real *out, const wg_real *x, int n, int64_t pixels);

/** The evaluation batch: bounded, so the inference tape stays small (about
 *  5 MB for LeNet-5) whatever the size of the data set. */
#define EX_EVAL_BATCH 100

/** Evaluates in inference mode (no recording) and in the model's
 *  evaluation mode (no dropout; its mode is restored after), in batches of
 *  `batch` so memory stays bounded. `confusion` (k x k, zeroed here) may be NULL. */
int ex_evaluate(wg_model *m, const wg_dataset *d, ex_task task, int batch, int *confusion, int k,
                ex_eval *out);

/** One training run. */
typedef struct ex_trainer {
    const char *program;     /**< for messages */
    const ex_config *cfg;    /**< epochs, max_steps, batch, seed, out_dir */
    wg_model *model;
    wg_optim *opt;
    ex_task task;
    wg_schedule schedule;    /**< per epoch; kind CONSTANT for none */
    double base_lr;          /**< the schedule's base rate */
    const wg_dataset *train, *val;
    bool quiet;              /**< no progress or per-epoch lines (studies) */
    /* results */
    ex_epoch_metrics *history; /**< one entry per epoch run (malloc'd; freed by ex_trainer_free) */
    int n_history;
    long steps;              /**< optimizer steps taken */
    double train_seconds;    /**< wall time of the training steps, batch assembly included */
    long train_images;       /**< images trained on */
    int best_epoch;          /**< --patience: the epoch whose parameters were kept (1-based;
                                  0 if none) */
    double best_val_loss;    /**< its validation loss (NAN if none) */
    bool stopped_early;      /**< --patience ended the run before its last epoch */
} ex_trainer;

/** Runs the epochs; writes `<out_dir>/metrics.csv` unless csv_path is
 *  NULL; unless quiet, ends with the memory report (ex_print_memory()) of
 *  the training tape. The model trains in training mode (dropout on) and
 *  is evaluated in evaluation mode. With cfg->patience > 0 (and a
 *  validation set), the run stops once the validation loss has not
 *  improved for that many epochs, and the parameters of the best epoch
 *  (a copy kept in memory) are restored at the end, also when the run
 *  went to its last epoch; the checkpoint is then rewritten with them.
 *  Returns 0, or -1 with the reason printed to stderr. */
int ex_train(ex_trainer *t, const char *csv_path);
void ex_trainer_free(ex_trainer *t);

/** The end of a classifier's run: evaluates `t`'s model on `test`, prints
 *  the confusion matrix, draws curves.png and confusion.png in the output
 *  directory (titled `curves_title` and `confusion_title`), and prints the
 *  summary lines (test accuracy, train images/s). Returns 0 or -1. */
int ex_report_classifier(const ex_trainer *t, const wg_dataset *test, const char *csv_path,
                         const char *curves_title, const char *confusion_title);

/** Loads Fashion-MNIST (or any MNIST-format directory) from cfg->data_dir,
 *  holds out the last `n_val` shuffled training images for validation,
 *  then creates cfg->out_dir: after the data, so that a run that cannot
 *  start leaves nothing behind. Prints the reason ("program: ...") and
 *  returns -1, with nothing left to free, on failure. */
int ex_load_data(const ex_config *cfg, int64_t n_val, wg_dataset *all, wg_dataset *train,
                 wg_dataset *val, wg_dataset *test);

/** Parses a schedule name for a run of `epochs` epochs: "cosine" (to 0
 *  over the run), "step" (x0.1 every 5 epochs) or "none". -1 if unknown (the reason in ex_last_error()). */
int ex_parse_schedule(const char *name, int epochs, wg_schedule *s);
#define EX_SCHEDULE_HELP "learning-rate schedule per epoch: cosine, step (x0.1 every 5), none"

/** One line: the bytes held by the model's parameters and gradients, the
 *  optimizer's state and the tape's arena (now, and its peak between two
 *  resets), from wg_memory_usage(). `o` and `tape` may be NULL. */
void ex_print_memory(FILE *f, const wg_model *m, const wg_optim *o, const wg_tape *tape);

/** The two-layer perceptron of wg_mlp() with dropout after the hidden
 *  activation: fc1, activation, dropout(p), fc2, built with wg_model_new().
 *  Dropout is active in training mode only (wg_model_training()), with the
 *  model's generator; p = 0 gives wg_mlp() itself. It records the kind and
 *  hyperparameters of an "mlp" (plus "dropout_permille"), so its
 *  checkpoints load wherever an MLP's do: in evaluation the two are the
 *  same function. NULL (see wg_last_error()) on failure. */
wg_model *ex_mlp_dropout(int in, int hidden, int out, wg_activation act, double p, uint64_t seed);

/** Applies --threads, and line-buffers stdout. */
void ex_apply_threads(const ex_config *cfg);

/** What every training example does after parsing its options: the
 *  schedule named by `schedule` (a usage error if unknown), the thread
 *  count, then the data (ex_load_data). 0 to go on, else the program's
 *  exit status, the reason printed. */
int ex_start_training(const ex_program *prog, ex_config *cfg, const char *schedule,
                      int64_t n_val, wg_schedule *sched, wg_dataset *all, wg_dataset *train,
                      wg_dataset *val, wg_dataset *test);

#endif
