/* make check's side of the fuzzing: runs every committed input through the
 * harness of its target, each in a child process with a time limit.
 *
 *   fuzz/corpus/TARGET/       the seeds: must pass
 *   fuzz/regress/TARGET/      inputs that once crashed our code: must pass
 *   fuzz/findings/TARGET/     inputs that crash or hang libhdf5 itself
 *                              (third-party findings, docs/reliability.md):
 *                              listed, run only with WG_FUZZ_FINDINGS=1 and
 *                              never failed on; for the checkpoint targets'
 *                              ones the defence is always checked: the same
 *                              bytes sealed with a CRC that does not match
 *                              them must be refused, by every call, without
 *                              reaching libhdf5.
 *
 * The fuzz directory is $WG_FUZZ_DIR, else FUZZ_DIR (set at build time to
 * $(abs_top_srcdir)/fuzz), else $WG_TEST_DATA/../../fuzz. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIME_LIMIT 60 /* seconds per input */
#define MEMORY_LIMIT_MB 1024 /* peak resident memory per input */
#define EXIT_MEMORY 4        /* a child's exit status for "too much memory" */

static int g_pass, g_fail, g_findings;

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    unsigned char *b = malloc(cap);
    for (;;) {
        if (!b)
            break;
        size_t got = fread(b + len, 1, cap - len, f);
        len += got;
        if (len < cap)
            break;
        unsigned char *nb = realloc(b, cap *= 2);
        if (!nb)
            free(b);
        b = nb;
    }
    fclose(f);
    if (b)
        *n = len;
    return b;
}

/* Runs fn on the file's bytes in a child. Returns 0 for a clean exit, the
 * signal number for a crash, minus the status of a failed exit, -1 for a
 * failure to run. */
static int run_child(wgf_fn fn, const char *path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("replay: fork");
        return -1;
    }
    if (pid == 0) {
        alarm(TIME_LIMIT);
        size_t n;
        unsigned char *b = read_all(path, &n);
        if (!b) {
            fprintf(stderr, "replay: %s: cannot read\n", path);
            _exit(3);
        }
        fn(b, n);
        free(b);
        /* a few kilobytes of input must not cost a gigabyte */
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss / 1024 > MEMORY_LIMIT_MB) {
            fprintf(stderr, "replay: %s: peak memory %ld MB\n", path, ru.ru_maxrss / 1024);
            exit(EXIT_MEMORY);
        }
        exit(0); /* runs the harness's clean-up of its temporary files */
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFSIGNALED(status))
        return WTERMSIG(status);
    return -WEXITSTATUS(status);
}

static const char *outcome(int r, char *buf, size_t cap)
{
    if (r == 0)
        return "no crash";
    if (r == -EXIT_MEMORY)
        snprintf(buf, cap, "peak memory over %d MB", MEMORY_LIMIT_MB);
    else if (r < 0)
        snprintf(buf, cap, "failed exit (status %d)", -r);
    if (r < 0)
        return buf;
    if (r == SIGALRM)
        snprintf(buf, cap, "hang (over %d s)", TIME_LIMIT);
    else
        snprintf(buf, cap, "crash (signal %d, %s)", r, strsignal(r));
    return buf;
}

static bool is_plain_hdf5(const char *path)
{
    static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    unsigned char b[8];
    FILE *f = fopen(path, "rb");
    bool yes = f && fread(b, 1, 8, f) == 8 && memcmp(b, sig, 8) == 0;
    if (f)
        fclose(f);
    return yes;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir (not dot files, README or *.txt), sorted. */
static int list_dir(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d)
        return 0;
    int n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0 ||
            (len > 4 && strcmp(e->d_name + len - 4, ".txt") == 0))
            continue; /* notes, and the stack traces next to findings */
        char p[4600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            char **nn = realloc(names, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(p);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    *out = names;
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

static int g_pending;

/* corpus and regress: every input must pass, except regression inputs
 * named *.pending, which wait for a library fix (their .stack.txt says
 * where): listed, and run only with WG_FUZZ_PENDING=1, never failing */
static void replay_dir(const char *root, const char *kind, const wgf_target *t, int *count)
{
    char dir[4200], buf[96];
    char **names;
    snprintf(dir, sizeof dir, "%s/%s/%s", root, kind, t->name);
    int n = list_dir(dir, &names);
    const char *run_pending = getenv("WG_FUZZ_PENDING");
    for (int i = 0; i < n; i++) {
        if (ends_with(names[i], ".pending")) {
            g_pending++;
            if (!run_pending || !*run_pending) {
                printf("pending library fix (not run; WG_FUZZ_PENDING=1 runs it): %s\n",
                       names[i]);
                continue;
            }
            int r = run_child(t->fn, names[i]);
            printf("pending library fix: %s: %s\n", names[i],
                   r == 0 ? "passes now: drop .pending from its name"
                          : outcome(r, buf, sizeof buf));
            continue;
        }
        int r = run_child(t->fn, names[i]);
        if (r == 0) {
            g_pass++;
        } else {
            g_fail++;
            printf("FAIL %s: %s\n", names[i], outcome(r, buf, sizeof buf));
        }
    }
    *count += n;
    free_list(names, n);
}

static wgf_fn target_fn(const char *name)
{
    for (int i = 0; i < wgf_n_targets; i++)
        if (strcmp(wgf_targets[i].name, name) == 0)
            return wgf_targets[i].fn;
    return NULL;
}

/* findings: third-party crashes and hangs, listed (run with
 * WG_FUZZ_FINDINGS=1: some take minutes or gigabytes inside libhdf5);
 * the CRC defence against checkpoint ones is always checked */
static void replay_findings(const char *root, const wgf_target *t)
{
    char dir[4200], buf[96], buf2[96];
    char **names;
    snprintf(dir, sizeof dir, "%s/findings/%s", root, t->name);
    int n = list_dir(dir, &names);
    const char *run = getenv("WG_FUZZ_FINDINGS");
    for (int i = 0; i < n; i++) {
        g_findings++;
        if (run && *run) {
            int r = run_child(t->fn, names[i]);
            printf("third-party finding %s: %s with this libhdf5\n", names[i],
                   r == 0 ? "no crash in this build (reads out of bounds show under AddressSanitizer)"
                         : outcome(r, buf, sizeof buf));
        } else {
            printf("third-party finding (not run; WG_FUZZ_FINDINGS=1 runs it): %s\n", names[i]);
        }
        if (strncmp(t->name, "checkpoint", 10) != 0)
            continue;
        /* the defence: as the HDF5 part of a wengert checkpoint corrupted
         * after it was sealed, the same bytes never reach libhdf5 */
        int d = run_child(wgf_checkpoint_stale_crc, names[i]);
        if (d == 0) {
            g_pass++;
            printf("  sealed with a CRC that does not match, it is refused before libhdf5: "
                   "defended\n");
        } else {
            g_fail++;
            printf("FAIL %s: sealed with a CRC that does not match: %s\n", names[i],
                   outcome(d, buf2, sizeof buf2));
        }
        if (is_plain_hdf5(names[i]))
            printf("  as it is, a plain HDF5 file without a CRC: exposed (documented)\n");
    }
    free_list(names, n);
}

/* The children's temporary files go into one directory of ours, removed
 * at the end even when a child crashed before cleaning up. */
static char g_scratch[1024];

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[2048];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void make_scratch(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_scratch, sizeof g_scratch, "%s/wgreplay.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_scratch)) {
        perror("replay: mkdtemp");
        exit(2);
    }
    setenv("TMPDIR", g_scratch, 1);
}

static const char *fuzz_dir(char *buf, size_t cap)
{
    const char *env = getenv("WG_FUZZ_DIR");
    if (env && *env)
        return env;
#ifdef FUZZ_DIR
    struct stat st;
    if (stat(FUZZ_DIR "/corpus", &st) == 0)
        return FUZZ_DIR;
#endif
    const char *data = getenv("WG_TEST_DATA");
    if (data && *data) {
        snprintf(buf, cap, "%s/../../fuzz", data);
        return buf;
    }
    return "fuzz";
}

int main(int argc, char **argv)
{
    char buf[4096];
    /* `replay TARGET FILE...` runs single inputs in this process (for a
     * debugger); without arguments, everything committed */
    if (argc >= 3) {
        wgf_fn fn = target_fn(argv[1]);
        if (!fn) {
            fprintf(stderr, "replay: unknown target %s\n", argv[1]);
            return 2;
        }
        for (int i = 2; i < argc; i++) {
            size_t n;
            unsigned char *b = read_all(argv[i], &n);
            if (!b) {
                fprintf(stderr, "replay: %s: cannot read\n", argv[i]);
                return 2;
            }
            fn(b, n);
            free(b);
            printf("%s: no crash\n", argv[i]);
        }
        return 0;
    }
    const char *root = fuzz_dir(buf, sizeof buf);
    int corpus = 0, regress = 0;
    make_scratch();
    for (int i = 0; i < wgf_n_targets; i++) {
        int before = corpus;
        replay_dir(root, "corpus", &wgf_targets[i], &corpus);
        if (corpus == before) {
            printf("FAIL %s/corpus/%s: no seed inputs\n", root, wgf_targets[i].name);
            g_fail++;
        }
        replay_dir(root, "regress", &wgf_targets[i], &regress);
        replay_findings(root, &wgf_targets[i]);
    }
    remove_tree(g_scratch);
    printf("replay: %d corpus and %d regression inputs (%d pending a library fix) over %d "
           "targets, %d third-party findings; %d passed, %d failed\n",
           corpus, regress, g_pending, wgf_n_targets, g_findings, g_pass, g_fail);
    return g_fail ? 1 : 0;
}
