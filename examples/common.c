/* Helpers shared by the example programs: see common.h. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ errors */

static char last_error[512];

const char *ex_last_error(void) { return last_error; }

static const char *g_program = "error";
const char *ex_program_name(void) { return g_program; }

int ex_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

#define fail ex_fail

/* ------------------------------------------------------------ ranks */

bool ex_writes_files(void) { return wg_dist_rank() == 0; }

/* Under mpirun every rank runs the whole program, so every example joins
 * the job here, before its first output: rank 0 alone prints (the other
 * ranks' stdout goes to /dev/null; their errors still reach stderr). */
static int join_ranks(const char *program)
{
    static bool joined;
    if (joined)
        return 0;
    joined = true;
    if (wg_dist_init(NULL, NULL) != WG_OK) {
        fprintf(stderr, "%s: %s\n", program, wg_last_error());
        return -1;
    }
    atexit(wg_dist_finalize);
    if (wg_dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "%s: rank %d: cannot silence stdout: %s\n", program, wg_dist_rank(),
                strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ options */

ex_config ex_config_defaults(void)
{
    ex_config c = {0};
    c.epochs = 10;
    c.max_steps = 0;
    c.batch = 64;
    c.lr = 0.01;
    c.threads = 0;
    c.seed = 42;
    return c;
}

/* Two private option types for the shared options, beyond ex_opt_type. */
enum { OPT_LONG = 100, OPT_U64 = 101 };

/* The shared options as a table pointing into cfg, so that they are parsed
 * and printed by the same code as the program's own. */
enum { N_SHARED = 13 };
static void shared_options(ex_option *o, ex_config *cfg, const ex_program *prog)
{
    unsigned hide = prog->hide;
    int i = 0;
#define ADD(bit, ...) do { if (!(hide & (bit))) o[i++] = (ex_option){__VA_ARGS__}; } while (0)
    ADD(EX_HIDE_EPOCHS, "epochs", EX_OPT_INT, &cfg->epochs, "N",
        "number of epochs (0: no training)", 0, EX_NO_LIMIT);
    ADD(EX_HIDE_MAX_STEPS, "max-steps", (ex_opt_type)OPT_LONG, &cfg->max_steps, "N",
        "stop after N training steps (0: no limit)", 0, 0);
    ADD(EX_HIDE_BATCH, "batch", EX_OPT_INT, &cfg->batch, "N", "mini-batch size", 1, EX_NO_LIMIT);
    ADD(EX_HIDE_LR, "lr", EX_OPT_DOUBLE, &cfg->lr, "X", "learning rate", EX_ABOVE_ZERO, EX_NO_LIMIT);
    ADD(EX_HIDE_THREADS, "threads", EX_OPT_INT, &cfg->threads, "N",
        "threads (0: OMP_NUM_THREADS, else all processors)", 0, 4096);
    ADD(EX_HIDE_SEED, "seed", (ex_opt_type)OPT_U64, &cfg->seed, "N", "random seed", 0, 0);
    ADD(EX_HIDE_DATA, "data", EX_OPT_STRING, &cfg->data_dir, "DIR",
        "Fashion-MNIST directory\n(default: $WG_DATA_DIR, else /usr/share/datasets/fashion-mnist)",
        0, 0);
    ADD(EX_HIDE_OUT, "out", EX_OPT_STRING, &cfg->out_dir, "DIR", "output directory", 0, 0);
    ADD(EX_HIDE_CHECKPOINT, "save", EX_OPT_STRING, &cfg->save_path, "FILE",
        "checkpoint written after every epoch\n(default: checkpoint.h5 in the output directory)",
        0, 0);
    ADD(EX_HIDE_CHECKPOINT, "resume", EX_OPT_STRING, &cfg->resume_path, "FILE",
        "continue the run saved in FILE (model, optimizer, data position)", 0, 0);
    ADD(EX_HIDE_LIMIT, "limit", (ex_opt_type)OPT_LONG, &cfg->limit, "N",
        "use only the first N training and test images, for quick trials (0: all)", 0, 0);
    ADD(EX_HIDE_PATIENCE, "patience", EX_OPT_INT, &cfg->patience, "N",
        "early stopping: stop after N epochs without a lower validation loss and keep\n"
        "the best epoch's parameters (0: off)", 0, EX_NO_LIMIT);
    ADD(EX_HIDE_SUMMARY, "summary", EX_OPT_FLAG, &cfg->summary, NULL,
        "print the model's layers, shapes, parameters and MACs, and exit", 0, 0);
#undef ADD
    o[i] = (ex_option){0};
}

static const char *arg_name(const ex_option *o)
{
    if (o->arg)
        return o->arg;
    return (int)o->type == EX_OPT_DOUBLE ? "X" : (int)o->type == EX_OPT_STRING ? "S" : "N";
}

static void print_option(FILE *f, const ex_option *o)
{
    char left[64];
    if (o->type == EX_OPT_FLAG)
        snprintf(left, sizeof left, "--%s", o->name);
    else
        snprintf(left, sizeof left, "--%s %s", o->name, arg_name(o));
    fprintf(f, "  %-20s ", left);
    for (const char *h = o->help; h && *h; h++) { /* continuation lines indented */
        if (*h == '\n')
            fprintf(f, "\n%23s", "");
        else
            fputc(*h, f);
    }
    const char *s;
    switch ((int)o->type) {
    case EX_OPT_INT: fprintf(f, " (default: %d)", *(int *)o->value); break;
    case EX_OPT_DOUBLE: fprintf(f, " (default: %g)", *(double *)o->value); break;
    case OPT_LONG: fprintf(f, " (default: %ld)", *(long *)o->value); break;
    case OPT_U64: fprintf(f, " (default: %llu)", (unsigned long long)*(uint64_t *)o->value); break;
    case EX_OPT_STRING:
        if ((s = *(const char **)o->value) != NULL)
            fprintf(f, " (default: %s)", s);
        break;
    default: break;
    }
    fputc('\n', f);
}

/* Fills in out_dir = results/<name> when the program left it NULL. */
static void default_out(const ex_program *prog, ex_config *cfg)
{
    if (!cfg->out_dir) {
        snprintf(cfg->out_buf, sizeof cfg->out_buf, "results/%s", prog->name);
        cfg->out_dir = cfg->out_buf;
    }
}

void ex_print_usage(FILE *f, const ex_program *prog, const ex_config *cfg)
{
    ex_config c = *cfg;
    if (c.out_dir == cfg->out_buf)
        c.out_dir = c.out_buf;
    default_out(prog, &c);
    ex_option shared[N_SHARED + 1];
    shared_options(shared, &c, prog);
    fprintf(f, "usage: %s%s%s [options]\n", prog->name, prog->args ? " " : "",
            prog->args ? prog->args : "");
    if (prog->summary)
        fprintf(f, "%s\n", prog->summary);
    fprintf(f, "\noptions:\n  %-20s %s\n", "--help", "print this help and exit");
    for (const ex_option *o = shared; o->name; o++)
        print_option(f, o);
    if (prog->options && prog->options[0].name) {
        fprintf(f, "\n%s options:\n", prog->name);
        for (const ex_option *o = prog->options; o->name; o++)
            print_option(f, o);
    }
}

int ex_print_summary(wg_model *m, wg_shape input)
{
    size_t len = 0;
    wg_status s = wg_model_summary(m, input, NULL, 0, &len);
    char *text = s == WG_ERANGE || s == WG_OK ? malloc(len + 1) : NULL;
    if (text)
        s = wg_model_summary(m, input, text, len + 1, NULL);
    if (!text || s != WG_OK) {
        fprintf(stderr, "summary: %s\n", text ? wg_last_error() : s == WG_ERANGE ? "out of memory"
                : wg_last_error());
        free(text);
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Parses `text` into option o; returns 0 or -1 with the reason stored. */
static int set_value(const ex_option *o, const char *text)
{
    char *end;
    bool ranged = !(o->min == 0 && o->max == 0);
    errno = 0;
    switch ((int)o->type) {
    case EX_OPT_INT: {
        long v = strtol(text, &end, 10);
        if (end == text || *end)
            return fail("--%s: '%s' is not an integer", o->name, text);
        if (errno || v < -2147483647L || v > 2147483647L)
            return fail("--%s: %s is out of range", o->name, text);
        if (ranged && (v < o->min || v > o->max)) {
            if (o->max >= EX_NO_LIMIT)
                return fail("--%s: %ld is out of range (must be >= %.0f)", o->name, v, o->min);
            return fail("--%s: %ld is out of range (%.0f to %.0f)", o->name, v, o->min, o->max);
        }
        *(int *)o->value = (int)v;
        return 0;
    }
    case OPT_LONG: {
        long v = strtol(text, &end, 10);
        if (end == text || *end)
            return fail("--%s: '%s' is not an integer", o->name, text);
        if (errno)
            return fail("--%s: %s is out of range", o->name, text);
        if (v < 0)
            return fail("--%s: %ld is out of range (must be >= 0)", o->name, v);
        *(long *)o->value = v;
        return 0;
    }
    case OPT_U64: {
        unsigned long long v = strtoull(text, &end, 10);
        if (end == text || *end || strchr(text, '-'))
            return fail("--%s: '%s' is not a non-negative integer", o->name, text);
        if (errno)
            return fail("--%s: %s is out of range", o->name, text);
        *(uint64_t *)o->value = v;
        return 0;
    }
    case EX_OPT_DOUBLE: {
        double v = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v))
            return fail("--%s: '%s' is not a number", o->name, text);
        if (ranged && (v < o->min || v > o->max)) {
            if (o->max >= EX_NO_LIMIT && v > o->max) /* "no limit" is a large finite one */
                return fail("--%s: %g is out of range (at most %g)", o->name, v, o->max);
            if (o->min == EX_ABOVE_ZERO)
                return fail("--%s: %g is out of range (must be > 0)", o->name, v);
            if (o->max >= EX_NO_LIMIT)
                return fail("--%s: %g is out of range (must be >= %g)", o->name, v, o->min);
            return fail("--%s: %g is out of range (%g to %g)", o->name, v, o->min, o->max);
        }
        *(double *)o->value = v;
        return 0;
    }
    case EX_OPT_STRING:
        if (!*text)
            return fail("--%s: empty value", o->name);
        *(const char **)o->value = text;
        return 0;
    case EX_OPT_FLAG:
        *(bool *)o->value = true;
        return 0;
    }
    return fail("--%s: bad option type", o->name);
}

static const ex_option *find(const ex_option *table, const char *name, size_t len)
{
    for (const ex_option *o = table; table && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

/* Program option values are saved before parsing and restored after an
 * error, so that the usage printed then shows the defaults. */
typedef struct saved_value { unsigned char bytes[16]; } saved_value;

static size_t value_size(const ex_option *o)
{
    switch ((int)o->type) {
    case EX_OPT_INT: return sizeof(int);
    case EX_OPT_DOUBLE: return sizeof(double);
    case EX_OPT_STRING: return sizeof(const char *);
    case EX_OPT_FLAG: return sizeof(bool);
    default: return 0;
    }
}

static void save_or_restore(const ex_option *table, saved_value *v, int n, bool restore)
{
    for (int k = 0; k < n; k++) {
        if (restore)
            memcpy(table[k].value, v[k].bytes, value_size(&table[k]));
        else
            memcpy(v[k].bytes, table[k].value, value_size(&table[k]));
    }
}

static int parse(int argc, char **argv, const ex_program *prog, ex_config *cfg)
{
    ex_option shared[N_SHARED + 1];
    shared_options(shared, cfg, prog);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return fail("unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ex_option *o = find(shared, name, len);
        if (!o)
            o = find(prog->options, name, len);
        if (!o)
            return fail("unknown option '--%.*s'", (int)len, name);
        const char *value = NULL;
        if (o->type == EX_OPT_FLAG) {
            if (eq)
                return fail("--%s takes no value", o->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i]; /* (a value starting with -- needs --name=value) */
        } else {
            return fail("--%s needs a value (%s)", o->name, arg_name(o));
        }
        if (set_value(o, value) != 0)
            return -1;
    }
    return 0;
}

int ex_usage_error(const ex_program *prog, const ex_config *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog->name);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    ex_print_usage(stderr, prog, cfg);
    return 2;
}

int ex_parse_args(int argc, char **argv, const ex_program *prog, ex_config *cfg)
{
    if (join_ranks(prog->name) != 0)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ex_print_usage(stdout, prog, cfg);
            return 0;
        }
    ex_config defaults = *cfg;
    int n = 0;
    while (prog->options && prog->options[n].name)
        n++;
    saved_value saved[n > 0 ? n : 1];
    save_or_restore(prog->options, saved, n, false);
    if (parse(argc, argv, prog, cfg) != 0) {
        /* the usage shows the defaults, not what was parsed before the error */
        *cfg = defaults;
        save_or_restore(prog->options, saved, n, true);
        return ex_usage_error(prog, cfg, "%s", last_error);
    }
    default_out(prog, cfg);
    g_program = prog->name;
    return EX_RUN;
}

/* ------------------------------------------------------------ files */

int ex_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0)
        return fail("cannot create directory: empty path");
    if (n >= sizeof buf)
        return fail("cannot create directory '%s': path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (stat(buf, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return fail("cannot create directory '%s': '%s' exists and is not a directory",
                            path, buf);
        } else if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            return fail("cannot create directory '%s': %s: %s", path, buf, strerror(errno));
        }
        buf[i] = saved;
    }
    return 0;
}

int ex_path_join(char *buf, size_t size, const char *dir, const char *name)
{
    size_t d = strlen(dir);
    bool slash = d > 0 && dir[d - 1] != '/';
    int n = snprintf(buf, size, "%s%s%s", dir, slash ? "/" : "", name);
    if (n < 0 || (size_t)n >= size)
        return fail("path too long: %s/%s", dir, name);
    return 0;
}

/* ------------------------------------------------------------ CSV */

struct ex_csv {
    FILE *f;
    int columns;
    char path[1024];
};

static ex_csv *csv_open(const char *path, const char *header, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (!f) {
        fail("cannot open '%s' for writing: %s", path, strerror(errno));
        return NULL;
    }
    ex_csv *c = calloc(1, sizeof *c);
    if (!c) {
        fclose(f);
        fail("out of memory");
        return NULL;
    }
    c->f = f;
    snprintf(c->path, sizeof c->path, "%s", path);
    c->columns = 1;
    for (const char *s = header; *s; s++)
        c->columns += *s == ',';
    fseek(f, 0, SEEK_END);
    if (ftell(f) == 0 && (fprintf(f, "%s\n", header) < 0 || fflush(f) != 0)) {
        fail("cannot write '%s': %s", path, strerror(errno));
        fclose(f);
        free(c);
        return NULL;
    }
    return c;
}

/* ranks other than 0 log to /dev/null: the same calls, one file */
ex_csv *ex_csv_open(const char *path, const char *header)
{
    return csv_open(ex_writes_files() ? path : "/dev/null", header, "w");
}

ex_csv *ex_csv_append(const char *path, const char *header)
{
    return csv_open(ex_writes_files() ? path : "/dev/null", header, "a");
}

int ex_csv_row(ex_csv *c, const double *values, int n)
{
    if (!c)
        return fail("CSV file not open");
    if (n != c->columns)
        return fail("%s: row of %d values for %d columns", c->path, n, c->columns);
    for (int i = 0; i < n; i++) {
        double v = values[i];
        if (i)
            fputc(',', c->f);
        if (isnan(v))
            continue;
        if (v == floor(v) && fabs(v) < 1e15)
            fprintf(c->f, "%.0f", v);
        else
            fprintf(c->f, "%.6g", v);
    }
    fputc('\n', c->f);
    if (ferror(c->f) || fflush(c->f) != 0)
        return fail("cannot write '%s': %s", c->path, strerror(errno));
    return 0;
}

int ex_csv_epoch(ex_csv *c, const ex_epoch_metrics *m)
{
    const double v[7] = {m->epoch, m->train_loss, m->train_acc, m->val_loss, m->val_acc, m->lr,
                         m->seconds};
    return ex_csv_row(c, v, 7);
}

int ex_csv_close(ex_csv *c)
{
    if (!c)
        return 0;
    int bad = ferror(c->f);
    if (fclose(c->f) != 0)
        bad = 1;
    int rc = bad ? fail("cannot write '%s': %s", c->path, strerror(errno)) : 0;
    free(c);
    return rc;
}

/* ------------------------------------------------------------ time and progress */

double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *ex_format_duration(char *buf, size_t size, double s)
{
    if (!(s >= 0) || s > 1e8)
        snprintf(buf, size, "?");
    else if (s < 60)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, size, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
    return buf;
}

void ex_progress_init(ex_progress *p, int epochs, int batches, int batch_size, long max_steps)
{
    *p = (ex_progress){0};
    p->epochs = epochs;
    p->batches = batches;
    p->batch_size = batch_size;
    p->total_steps = (long)epochs * batches;
    if (max_steps > 0 && max_steps < p->total_steps)
        p->total_steps = max_steps;
    const char *term = getenv("TERM");
    p->tty = isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
    p->t_run = p->t_epoch = p->t_drawn = ex_now();
}

void ex_progress_epoch(ex_progress *p, int epoch)
{
    if (p->epoch > 0)
        p->steps_done += p->batches; /* assume the previous epoch ran to its end */
    else if (epoch > 1) /* a resumed run: the earlier epochs are not to do */
        p->total_steps -= (long)(epoch - 1) * p->batches;
    if (p->total_steps < 0)
        p->total_steps = 0;
    p->epoch = epoch;
    p->t_epoch = p->t_drawn = ex_now();
    p->last_tenth = 0;
}

void ex_progress_update(ex_progress *p, int batch, double loss, double acc)
{
    double now = ex_now();
    long done = p->steps_done + batch;
    bool last = batch >= p->batches || done >= p->total_steps;
    int tenth = p->batches > 0 ? (int)(10L * batch / p->batches) : 10;
    if (p->tty) {
        if (!last && now - p->t_drawn < 0.1)
            return;
    } else if (!last && tenth <= p->last_tenth && now - p->t_drawn < 5) {
        return;
    }
    p->t_drawn = now;
    p->last_tenth = tenth;

    double epoch_time = now - p->t_epoch;
    double ips = epoch_time > 0 ? batch * (double)p->batch_size / epoch_time : 0;
    double per_step = (now - p->t_run) / (double)(done > 0 ? done : 1);
    char eta[32], accs[32] = "";
    ex_format_duration(eta, sizeof eta, per_step * (double)(p->total_steps - done));
    if (acc >= 0)
        snprintf(accs, sizeof accs, "  acc %.3f", acc);

    char line[256];
    int ew = snprintf(NULL, 0, "%d", p->epochs), bw = snprintf(NULL, 0, "%d", p->batches);
    if (p->tty) {
        char bar[21];
        int fill = p->batches > 0 ? (int)(20L * batch / p->batches) : 20;
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        snprintf(line, sizeof line, "epoch %*d/%d [%s] %*d/%d  loss %.4f%s  %.0f img/s  ETA %s",
                 ew, p->epoch, p->epochs, bar, bw, batch, p->batches, loss, accs, ips, eta);
        fprintf(stderr, "\r%s\033[K", line);
        p->drawn = true;
    } else {
        snprintf(line, sizeof line, "epoch %*d/%d  batch %*d/%d  loss %.4f%s  %.0f img/s  ETA %s",
                 ew, p->epoch, p->epochs, bw, batch, p->batches, loss, accs, ips, eta);
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

void ex_progress_clear(ex_progress *p)
{
    if (p->tty && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}

/* ------------------------------------------------------------ classification */

const char *const ex_fashion_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                            "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};

int ex_argmax(const wg_real *row, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

int ex_confusion_add(int *matrix, int k, const wg_real *logits, const int32_t *labels, int n)
{
    int right = 0;
    for (int i = 0; i < n; i++) {
        int pred = ex_argmax(logits + (size_t)i * k, k);
        if (labels[i] < 0 || labels[i] >= k)
            continue;
        matrix[labels[i] * k + pred]++;
        right += pred == labels[i];
    }
    return right;
}

double ex_confusion_accuracy(const int *matrix, int k)
{
    long total = 0, right = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            total += matrix[i * k + j];
            right += i == j ? matrix[i * k + j] : 0;
        }
    return total ? (double)right / (double)total : 0;
}

void ex_print_confusion(FILE *f, const int *matrix, int k, const char *const *names)
{
    int cw = 3, nw = 0; /* count column width, name width */
    for (int i = 0; i < k * k; i++) {
        int w = snprintf(NULL, 0, "%d", matrix[i]) + 1;
        cw = w > cw ? w : cw;
    }
    for (int i = 0; names && i < k; i++) {
        int w = (int)strlen(names[i]);
        nw = w > nw ? w : nw;
    }
    const char *corner = "true \\ predicted";
    int lw = nw + 3 + (k > 10 ? 2 : 1); /* "nn name" */
    lw = lw > (int)strlen(corner) ? lw : (int)strlen(corner);
    fprintf(f, "%-*s", lw, corner);
    for (int j = 0; j < k; j++)
        fprintf(f, "%*d", cw, j);
    fprintf(f, "  recall\n");
    for (int i = 0; i < k; i++) {
        long row = 0;
        for (int j = 0; j < k; j++)
            row += matrix[i * k + j];
        char label[128];
        snprintf(label, sizeof label, "%*d %s", k > 10 ? 2 : 1, i, names ? names[i] : "");
        fprintf(f, "%-*s", lw, label);
        for (int j = 0; j < k; j++)
            fprintf(f, "%*d", cw, matrix[i * k + j]);
        if (row)
            fprintf(f, "  %5.1f%%\n", 100.0 * matrix[i * k + i] / (double)row);
        else
            fprintf(f, "      -\n");
    }
    fprintf(f, "accuracy %.2f%%\n", 100 * ex_confusion_accuracy(matrix, k));
}
