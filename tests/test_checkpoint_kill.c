/* A save killed at any instant leaves the previous checkpoint or the new
 * one, whole: a child saves a LeNet checkpoint over the same path in a
 * loop, alternating two parameter sets A and B (the training state's epoch
 * says which: 0 for A, 1 for B); the parent SIGKILLs it after a random
 * delay spread over a few saves' duration, then loads the path. It must
 * load, and hold exactly A or exactly B, never a mix and never a corrupt
 * file. Temporary files present after a kill show the kill landed inside
 * a save, between the temporary file's creation and the rename. */
#define _GNU_SOURCE
#include "check.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <wengert.h>

enum { MIN_KILLS = 100, MAX_KILLS = 160 };
#define TIME_BUDGET 14.0 /* seconds for the kills, past MIN_KILLS */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_for(double seconds)
{
    struct timespec t = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    while (nanosleep(&t, &t) != 0)
        ;
}

/* Removes, and counts, the temporary files of a save in `dir`. */
static int remove_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp-")) {
            char full[2048];
            snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
            unlink(full);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void set_values(wg_model *m, const wg_real *v, size_t bytes)
{
    memcpy(wg_params_values(wg_model_params(m)), v, bytes);
}

/* the child: saves A, B, A, B, ... until killed */
static void saver(const char *path, wg_model *m, const wg_real *a, const wg_real *b, size_t bytes)
{
    wg_train_state ts = { .best_epoch = -1 };
    for (int64_t i = 0;; i++) {
        set_values(m, i % 2 ? b : a, bytes);
        ts.epoch = i % 2;
        ts.global_step = i;
        if (wg_checkpoint_save(path, m, NULL, &ts) != WG_OK) {
            fprintf(stderr, "saver: %s\n", wg_last_error());
            _exit(3);
        }
    }
}

int main(void)
{
    char dir[1024], path[1100];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/wg-kill-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);

    wg_model *m = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    wg_model *mb = wg_lenet5(10, WG_INIT_DEFAULT, 2);
    wg_model *probe = wg_lenet5(10, WG_INIT_DEFAULT, 3);
    const size_t bytes = (size_t)wg_params_numel(wg_model_params(m)) * sizeof(wg_real);
    wg_real *a = malloc(bytes), *b = malloc(bytes), *zero = calloc(1, bytes);
    memcpy(a, wg_params_values(wg_model_params(m)), bytes);
    memcpy(b, wg_params_values(wg_model_params(mb)), bytes);
    CHECK(memcmp(a, b, bytes) != 0, "A and B differ");

    /* how long one save takes here */
    wg_train_state ts = { .best_epoch = -1 };
    double t0 = now();
    const int timed = 6;
    for (int i = 0; i < timed; i++) {
        set_values(m, i % 2 ? b : a, bytes);
        ts.epoch = i % 2;
        CHECK(wg_checkpoint_save(path, m, NULL, &ts) == WG_OK, "save: %s", wg_last_error());
    }
    const double save_time = (now() - t0) / timed;
    struct stat st;
    stat(path, &st);
    printf("one save: %.2f ms (%lld bytes)\n", 1e3 * save_time, (long long)st.st_size);

    wg_rng rng = wg_rng_seed(20240611);
    int kills = 0, mid_save = 0, n_a = 0, n_b = 0, bad = 0;
    const double start = now();
    while (kills < MAX_KILLS && (kills < MIN_KILLS || now() - start < TIME_BUDGET) && bad < 5) {
        remove_tmp(dir);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            CHECK(0, "fork failed");
            break;
        }
        if (pid == 0)
            saver(path, m, a, b, bytes);
        /* spread over the first three saves: before, inside and between them */
        sleep_for(wg_rng_uniform(&rng) * 3 * save_time);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        kills++;
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "kill %d: the saver ended by itself (status %#x)", kills, status);
        if (remove_tmp(dir) > 0)
            mid_save++;

        set_values(probe, zero, bytes);
        wg_train_state got = { 0 };
        wg_status s = wg_checkpoint_load(path, probe, NULL, &got, true, NULL);
        CHECK(s == WG_OK, "kill %d: the checkpoint does not load: %s", kills, wg_last_error());
        const wg_real *v = wg_params_values(wg_model_params(probe));
        bool is_a = memcmp(v, a, bytes) == 0, is_b = memcmp(v, b, bytes) == 0;
        n_a += is_a;
        n_b += is_b;
        CHECK(s != WG_OK || is_a || is_b, "kill %d: the checkpoint is neither A nor B", kills);
        CHECK(s != WG_OK || got.epoch == (is_b ? 1 : 0),
              "kill %d: parameters of %s with the training state of the other", kills,
              is_a ? "A" : "B");
        if (s != WG_OK || !(is_a || is_b))
            bad++;
    }
    const double took = now() - start;
    printf("%d kills in %.1f s: %d landed inside a save (temporary file present), "
           "%d left A, %d left B, %d neither\n", kills, took, mid_save, n_a, n_b, bad);
    CHECK(kills >= MIN_KILLS, "only %d kills", kills);
    CHECK(n_a > 0 && n_b > 0, "the kills should leave both A and B at times (A %d, B %d)", n_a,
          n_b);
    CHECK(mid_save > 0, "no kill landed inside a save");

    /* the next save clears what the last kill left */
    set_values(m, a, bytes);
    CHECK(wg_checkpoint_save(path, m, NULL, &ts) == WG_OK, "save: %s", wg_last_error());
    CHECK(remove_tmp(dir) == 0, "a save leaves no temporary file");

    unlink(path);
    remove_tmp(dir);
    rmdir(dir);
    free(a);
    free(b);
    free(zero);
    wg_model_free(probe);
    wg_model_free(mb);
    wg_model_free(m);
    return check_done("test_checkpoint_kill");
}
