/* Helpers shared by the example programs (not part of the library):
 * one command-line parser, a progress display, CSV logs, output
 * directories, a clock, and a few small classification utilities.
 *
 * Functions that can fail return 0 on success and -1 on failure, and leave
 * a one-line reason in ex_last_error(); they never print or exit (except
 * ex_parse_args(), whose job is to print usage and errors).
 *
 * A typical program:
 *
 *     ex_config cfg = ex_config_defaults();     // then the program's own
 *     cfg.epochs = 10; cfg.batch = 64; cfg.lr = 0.05;
 *     int hidden = 128; bool study = false;
 *     const ex_option extra[] = {
 *         {"hidden", EX_OPT_INT, &hidden, "N", "hidden units", 1, 4096},
 *         {"lr-study", EX_OPT_FLAG, &study, NULL, "compare three learning rates", 0, 0},
 *         {0}};
 *     const ex_program prog = {"train_mlp", "Trains an MLP on Fashion-MNIST.", extra, 0};
 *     int rc = ex_parse_args(argc, argv, &prog, &cfg);
 *     if (rc != EX_RUN)
 *         return rc;                       // 0 after --help, 2 after an error
 *     if (ex_mkdir_p(cfg.out_dir) != 0) { fprintf(stderr, "%s\n", ex_last_error()); return 1; }
 */
#ifndef EX_COMMON_H
#define EX_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <wengert.h>

/* ------------------------------------------------------------ errors */

/** The program's name for messages ("train_lenet"), from the last
 *  ex_parse_args(); "error" before. */
const char *ex_program_name(void);

/** The reason the last failing ex_ call gave (an empty string if none). */
const char *ex_last_error(void);

/** Stores a printf-formatted reason for ex_last_error() and returns -1,
 *  for helpers built on these: `return ex_fail("bad size %d", n);`. */
int ex_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------ ranks */

/** Whether this process writes files (CSV logs, pictures, checkpoints):
 *  rank 0 alone under mpirun (docs/distributed.md); always true without. */
bool ex_writes_files(void);

/* ------------------------------------------------------------ options */

/** Kinds of program-specific options. */
typedef enum ex_opt_type {
    EX_OPT_INT,    /**< value points to an int */
    EX_OPT_DOUBLE, /**< value points to a double */
    EX_OPT_STRING, /**< value points to a const char * (set to the argv string) */
    EX_OPT_FLAG    /**< value points to a bool, set to true; takes no argument */
} ex_opt_type;

/** For ex_option.max: no upper limit (only min is checked). */
#define EX_NO_LIMIT 1e18
/** For ex_option.min of a DOUBLE: the value must be > 0. */
#define EX_ABOVE_ZERO 1e-300

/** One program-specific option, `--name VALUE` (or `--name=VALUE`). Tables
 *  end with an entry whose name is NULL: `{0}`. The value the variable
 *  holds before parsing is shown in --help as the default. */
typedef struct ex_option {
    const char *name;  /**< long name without the dashes, e.g. "hidden" */
    ex_opt_type type;  /**< what value points to */
    void *value;       /**< the variable to set */
    const char *arg;   /**< name of the argument in --help, e.g. "N" (NULL: a default) */
    const char *help;  /**< one line of help */
    double min, max;   /**< allowed range for INT and DOUBLE, inclusive; both 0 means
                            any; max EX_NO_LIMIT: none above; min EX_ABOVE_ZERO: > 0 */
} ex_option;

/** The options every example shares. Fill it with ex_config_defaults(),
 *  change what the program wants as its own defaults, then parse. */
typedef struct ex_config {
    int epochs;           /**< --epochs N: total epochs (0 is valid) */
    long max_steps;       /**< --max-steps N: stop after N training steps, 0 = no limit */
    int batch;            /**< --batch N: mini-batch size (>= 1) */
    double lr;            /**< --lr X: learning rate (> 0) */
    int threads;          /**< --threads N: thread count, 0 = the library's default */
    uint64_t seed;        /**< --seed N: random seed */
    const char *data_dir; /**< --data DIR: NULL = WG_DATA_DIR or Debian's location */
    const char *out_dir;  /**< --out DIR: NULL before parsing = results/<program> */
    const char *save_path;   /**< --save FILE: checkpoint every epoch (NULL: <out>/checkpoint.h5) */
    const char *resume_path; /**< --resume FILE: continue the run a checkpoint holds */
    bool summary;         /**< --summary: print the model's layers and exit (ex_print_summary()) */
    long limit;           /**< --limit N: use only the first N training and test images (0: all) */
    int patience;         /**< --patience N: early stopping after N epochs without a better
                               validation loss, keeping the best epoch's parameters (0: off) */
    char out_buf[256];    /**< storage for the default out_dir */
} ex_config;

/** Bits of ex_program.hide: shared options a program does not take. */
enum {
    EX_HIDE_EPOCHS = 1 << 0,
    EX_HIDE_MAX_STEPS = 1 << 1,
    EX_HIDE_BATCH = 1 << 2,
    EX_HIDE_LR = 1 << 3,
    EX_HIDE_THREADS = 1 << 4,
    EX_HIDE_SEED = 1 << 5,
    EX_HIDE_DATA = 1 << 6,
    EX_HIDE_OUT = 1 << 7,
    EX_HIDE_CHECKPOINT = 1 << 8, /**< --save and --resume */
    EX_HIDE_SUMMARY = 1 << 9,    /**< --summary */
    EX_HIDE_LIMIT = 1 << 10,     /**< --limit */
    EX_HIDE_PATIENCE = 1 << 11,  /**< --patience */
    EX_HIDE_TRAINING = EX_HIDE_EPOCHS | EX_HIDE_MAX_STEPS | EX_HIDE_LR | EX_HIDE_CHECKPOINT |
                       EX_HIDE_SUMMARY | EX_HIDE_PATIENCE
};

/** What a program tells the parser about itself. */
typedef struct ex_program {
    const char *name;          /**< e.g. "train_lenet": usage line, default --out */
    const char *summary;       /**< one or more lines shown by --help */
    const ex_option *options;  /**< program-specific options ({0}-terminated) or NULL */
    unsigned hide;             /**< EX_HIDE_* bits */
    const char *args;          /**< positional arguments for the usage line, or NULL */
} ex_program;

/** Generic defaults: 10 epochs, no step limit, batch 64, lr 0.01, the
 *  library's thread count, seed 42, the default data and output dirs. */
ex_config ex_config_defaults(void);

/** ex_parse_args() returns this when the program should go on. */
#define EX_RUN (-1)

/** Parses argv into `cfg` and the program's option variables.
 *  Returns EX_RUN to go on; otherwise the exit status main should return:
 *  0 after --help (usage printed to stdout), 2 after a bad option
 *  (unknown, missing or non-numeric value, out of range; the error and the
 *  usage are printed to stderr). Values are only valid after EX_RUN. */
int ex_parse_args(int argc, char **argv, const ex_program *prog, ex_config *cfg);

/** Prints the usage of `prog` (with the defaults in `cfg`) to `f`. */
void ex_print_usage(FILE *f, const ex_program *prog, const ex_config *cfg);

/** For a bad command line found after ex_parse_args(): prints
 *  "prog: reason", a blank line and the usage to stderr, as the parser
 *  does, and returns 2 (the exit status). */
int ex_usage_error(const ex_program *prog, const ex_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** What --summary does, right after a program builds its model: prints
 *  wg_model_summary() of `m` for an input of shape `input` (batch 1, so
 *  the figures are per image) to stdout. Returns the exit status for
 *  main: 0, or 1 after printing the reason to stderr.
 *
 *      if (cfg.summary)
 *          return ex_print_summary(model, WG_SHAPE(1, 1, 28, 28));
 */
int ex_print_summary(wg_model *m, wg_shape input);

/* ------------------------------------------------------------ files */

/** Creates `path` and its missing parents (like mkdir -p). Succeeds if it
 *  already is a directory. */
int ex_mkdir_p(const char *path);

/** Writes `dir`/`name` into buf (of `size` bytes); -1 if it does not fit. */
int ex_path_join(char *buf, size_t size, const char *dir, const char *name);

/** The per-epoch metrics every training example logs and plots. Missing
 *  values (e.g. no validation set) are NAN: an empty CSV field, a gap in
 *  the plot. Accuracies are fractions in [0, 1]. */
typedef struct ex_epoch_metrics {
    int epoch;            /**< 1-based (0 can mean "before training") */
    double train_loss, train_acc;
    double val_loss, val_acc;
    double lr;            /**< learning rate used in this epoch */
    double seconds;       /**< wall-clock time of the epoch */
} ex_epoch_metrics;

/** Header line matching ex_csv_epoch(). */
#define EX_EPOCH_CSV_HEADER "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds"

/** A CSV file being written (opaque). */
typedef struct ex_csv ex_csv;

/** Creates (truncates) `path` and writes the header line, e.g.
 *  EX_EPOCH_CSV_HEADER. NULL on failure. */
ex_csv *ex_csv_open(const char *path, const char *header);
/** Opens `path` to append rows (for a resumed run); writes the header only
 *  if the file is new or empty. NULL on failure. */
ex_csv *ex_csv_append(const char *path, const char *header);
/** Writes one row of `n` numbers (n must equal the header's column count).
 *  Integral values print without decimals, NAN as an empty field. The row
 *  is flushed, so the log survives an interrupted run. */
int ex_csv_row(ex_csv *c, const double *values, int n);
/** Writes one row of ex_epoch_metrics (header EX_EPOCH_CSV_HEADER). */
int ex_csv_epoch(ex_csv *c, const ex_epoch_metrics *m);
/** Closes the file; reports a failed write or close. NULL is allowed. */
int ex_csv_close(ex_csv *c);

/* ------------------------------------------------------------ time and progress */

/** Seconds on a monotonic clock (only differences are meaningful). */
double ex_now(void);

/** Progress of a training run, drawn on stderr. On a terminal: one bar
 *  line redrawn at most 10 times a second,
 *      epoch 3/10 [########............] 372/937  loss 0.4123  acc 0.853  2310 img/s  ETA 1m23s
 *  Otherwise (a log file, or TERM=dumb): a plain line at every tenth of an
 *  epoch or every 5 seconds, whichever is first. The ETA covers the whole
 *  run, at the mean speed so far. The fields are private; set them with
 *  ex_progress_init(). Usage per epoch: ex_progress_epoch(), then
 *  ex_progress_update() after every step, then ex_progress_clear() before
 *  printing the epoch's summary line. */
typedef struct ex_progress {
    int epochs, batches, batch_size; /**< plan: epochs x batches of batch_size */
    long total_steps;                /**< steps in the whole run (--max-steps applied) */
    bool tty;                        /**< draw the \r bar (default: isatty(stderr)) */
    int epoch;                       /**< current epoch (1-based) */
    long steps_done;                 /**< steps finished before this epoch */
    double t_run, t_epoch, t_drawn;  /**< start times, time of the last output */
    int last_tenth;                  /**< last tenth of the epoch reported (no tty) */
    bool drawn;                      /**< a bar is on the screen */
} ex_progress;

/** Plans a run of `epochs` epochs of `batches` steps of `batch_size`
 *  images; max_steps > 0 caps the total, as --max-steps does. */
void ex_progress_init(ex_progress *p, int epochs, int batches, int batch_size, long max_steps);
/** Starts epoch `epoch` (1-based): resets the per-epoch clock. A first
 *  call with epoch > 1 (a resumed run) leaves the earlier epochs out of
 *  the ETA. */
void ex_progress_epoch(ex_progress *p, int epoch);
/** Reports that `batch` batches (1-based count) of the current epoch are
 *  done, with the running mean loss and accuracy (acc < 0: not shown). */
void ex_progress_update(ex_progress *p, int batch, double loss, double acc);
/** Erases the bar (if any) so that ordinary lines can be printed; call it
 *  at the end of each epoch before printing the epoch summary. */
void ex_progress_clear(ex_progress *p);

/** Formats seconds as "42s", "3m07s" or "1h02m" into buf. Returns buf. */
const char *ex_format_duration(char *buf, size_t size, double seconds);

/* ------------------------------------------------------------ classification */

/** Fashion-MNIST's ten class names, in label order. */
extern const char *const ex_fashion_classes[10];
#define EX_FASHION_CLASSES 10

/** The index of the largest of row[0..n-1] (the first one on ties). */
int ex_argmax(const wg_real *row, int n);

/** Adds `n` predictions to a k x k confusion matrix (row = true label,
 *  column = predicted = argmax of each row of `logits`, n x k). Returns the
 *  number of correct predictions among them. Labels outside 0..k-1 are
 *  skipped. */
int ex_confusion_add(int *matrix, int k, const wg_real *logits, const int32_t *labels, int n);

/** The accuracy (trace / total) of a k x k confusion matrix, 0 if empty. */
double ex_confusion_accuracy(const int *matrix, int k);

/** Prints a k x k confusion matrix as aligned text: one row per true class
 *  (number and name), one column per predicted class (by number), and each
 *  class's recall in a last column; names may be NULL (numbers only). */
void ex_print_confusion(FILE *f, const int *matrix, int k, const char *const *names);

#endif
