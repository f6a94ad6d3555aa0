/* Saving a checkpoint, crash-safe: everything is written to a temporary
 * file beside the target, sealed with its CRC, flushed to disk, and only
 * then renamed over the target (rename is atomic within a directory), and
 * the directory itself is flushed so the rename survives a power cut. */
#include "checkpoint.h"
#include "../optim/optim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const bool f64 = sizeof(wg_real) == sizeof(double);

/* Splits path into its directory and base name (copies). */
static void split_path(const char *path, char *dir, char *base, size_t cap)
{
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s", path);
    snprintf(b, sizeof b, "%s", path);
    snprintf(dir, cap, "%s", dirname(a));
    snprintf(base, cap, "%s", basename(b));
}

/* Removes "<base>.tmp-<pid>-<n>" files that a killed save left behind:
 * those whose process is gone, so a concurrent save by a live process
 * keeps its file. */
static void remove_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s.tmp-", base);
    size_t n = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, n) == 0) {
            char *end;
            long pid = strtol(e->d_name + n, &end, 10);
            if (end != e->d_name + n && *end == '-' && pid > 0 &&
                (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH))
                continue; /* ours, or a live process's */
            char full[8400];
            snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
            unlink(full);
        }
    }
    closedir(d);
}

static herr_t save_model(hid_t f, wg_model *m)
{
    wg_params *p = wg_model_params(m);
    int n = wg_params_count(p);
    const char *names[4096];
    if (n > 4096)
        return -1;
    hid_t g = wg_h5_group(f, "/model");
    if (g < 0)
        return -1;
    herr_t r = 0;
    for (int i = 0; i < n && r >= 0; i++) {
        wg_tensor *t = wg_params_at(p, i);
        char path[512];
        names[i] = wg_name(t);
        if (!wg_ckpt_h5_path("/model", wg_name(t), NULL, path, sizeof path))
            r = -1;
        else
            r = wg_h5_write_real(f, path, wg_data(t), &t->shape, f64);
    }
    if (r >= 0)
        r = wg_h5_attr_strs(g, "state_dict_order", names, n);
    H5Gclose(g);
    return r;
}

static herr_t save_optim(hid_t f, const wg_optim *o)
{
    hid_t g = wg_h5_group(f, "/optimizer");
    if (g < 0)
        return -1;
    const bool sgd = o->kind == WG_OPT_SGD;
    herr_t r = wg_h5_attr_str(g, "type", wg_optim_kind(o));
    r |= wg_h5_attr_f64(g, "lr", o->lr);
    r |= wg_h5_attr_i64(g, "step", o->steps);
    if (sgd) {
        r |= wg_h5_attr_f64(g, "momentum", o->sgd.momentum);
        r |= wg_h5_attr_f64(g, "dampening", o->sgd.dampening);
        r |= wg_h5_attr_f64(g, "weight_decay", o->sgd.weight_decay);
        r |= wg_h5_attr_i64(g, "nesterov", o->sgd.nesterov);
    } else {
        r |= wg_h5_attr_f64(g, "beta1", o->adam.beta1);
        r |= wg_h5_attr_f64(g, "beta2", o->adam.beta2);
        r |= wg_h5_attr_f64(g, "eps", o->adam.eps);
        r |= wg_h5_attr_f64(g, "weight_decay", o->adam.weight_decay);
    }
    H5Gclose(g);
    if (r < 0)
        return -1;
    int64_t off = 0;
    for (int i = 0; i < wg_params_count(o->params); i++) {
        wg_tensor *t = wg_params_at(o->params, i);
        char path[512];
        if (o->has_state[i] && o->state1) {
            if (!wg_ckpt_h5_path("/optimizer/state", wg_name(t),
                                 sgd ? "momentum_buffer" : "exp_avg", path, sizeof path) ||
                wg_h5_write_real(f, path, o->state1 + off, &t->shape, f64) < 0)
                return -1;
            if (o->state2 &&
                (!wg_ckpt_h5_path("/optimizer/state", wg_name(t), "exp_avg_sq", path,
                                  sizeof path) ||
                 wg_h5_write_real(f, path, o->state2 + off, &t->shape, f64) < 0))
                return -1;
            if (!wg_ckpt_h5_path("/optimizer/state", wg_name(t), NULL, path, sizeof path))
                return -1;
            hid_t pg = H5Gopen2(f, path, H5P_DEFAULT);
            r = pg < 0 ? -1 : wg_h5_attr_i64(pg, "step", o->param_steps[i]);
            if (pg >= 0)
                H5Gclose(pg);
            if (r < 0)
                return -1;
        }
        off += wg_numel(t);
    }
    return 0;
}

static herr_t save_training(hid_t f, const wg_train_state *ts, const wg_rng *rng)
{
    hid_t g = wg_h5_group(f, "/training");
    if (g < 0)
        return -1;
    herr_t r = wg_h5_attr_i64(g, "epoch", ts->epoch);
    r |= wg_h5_attr_i64(g, "global_step", ts->global_step);
    r |= wg_h5_attr_i64(g, "position", ts->position);
    r |= wg_h5_attr_u64s(g, "data_seed", &ts->data_seed, 1);
    r |= wg_h5_attr_u64s(g, "rng_state", rng->s, 4);
    r |= wg_h5_attr_f64(g, "base_lr", ts->base_lr);
    r |= wg_h5_attr_i64(g, "best_epoch", ts->best_epoch);
    r |= wg_h5_attr_f64(g, "best_val_loss", ts->best_val_loss);
    H5Gclose(g);
    return r < 0 ? -1 : 0;
}

static herr_t write_all(const char *tmp, wg_model *m, const wg_optim *o, const wg_train_state *ts)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_userblock(fcpl, WG_CKPT_USERBLOCK);
    H5Pset_obj_track_times(fcpl, 0);
    /* the 1.10 format checksums all metadata */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (f < 0)
        return -1;
    errno = 0; /* libhdf5 leaves ENOENT behind even when it succeeds */
    char producer[64];
    snprintf(producer, sizeof producer, "wengert %s", wg_version());
    const char *arch = wg_model_arch_json(m);
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    herr_t r = root < 0 || !arch ? -1 : 0;
    if (r >= 0) {
        r |= wg_h5_attr_str(root, "format", WG_CKPT_FORMAT);
        r |= wg_h5_attr_i64(root, "format_version", WG_CKPT_VERSION);
        r |= wg_h5_attr_str(root, "dtype", f64 ? "float64" : "float32");
        r |= wg_h5_attr_str(root, "layout", "pytorch");
        r |= wg_h5_attr_str(root, "producer", producer);
        r |= wg_h5_attr_str(root, "architecture", arch);
    }
    if (root >= 0)
        H5Gclose(root);
    if (r >= 0)
        r = save_model(f, m);
    if (r >= 0 && o)
        r = save_optim(f, o);
    if (r >= 0 && ts)
        r = save_training(f, ts, wg_model_rng(m));
    if (H5Fclose(f) < 0) /* the close writes buffered data: it can fail on a full disk */
        r = -1;
    return r;
}

wg_status wg_checkpoint_save(const char *path, wg_model *m, const wg_optim *opt,
                             const wg_train_state *ts)
{
    if (!path || !*path || !m)
        return wg_set_last_error(WG_EINVAL, "checkpoint_save: NULL path or model");
    if (opt && opt->params != wg_model_params(m))
        return wg_set_last_error(WG_EINVAL, "checkpoint_save: %s: the optimizer is not the "
                                 "model's", path);
    if (strlen(path) > 3000)
        return wg_set_last_error(WG_EINVAL, "checkpoint_save: path too long");
    char dir[4096], base[4096], tmp[8400];
    split_path(path, dir, base, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0)
        return wg_set_last_error(WG_EIO, "checkpoint_save: %s: directory %s: %s", path, dir,
                                 strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return wg_set_last_error(WG_EIO, "checkpoint_save: %s: %s is not a directory", path, dir);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return wg_set_last_error(WG_EIO, "checkpoint_save: %s is a directory", path);
    remove_stale(dir, base);
    static int counter; /* distinct names for saves from several threads */
    snprintf(tmp, sizeof tmp, "%s/%s.tmp-%ld-%d", dir, base, (long)getpid(),
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));

    herr_t r;
    errno = 0;
    H5E_BEGIN_TRY
    {
        r = write_all(tmp, m, opt, ts);
    }
    H5E_END_TRY;
    if (r < 0) {
        int err = errno;
        unlink(tmp);
        return wg_set_last_error(WG_EIO, "checkpoint_save: %s: writing failed (%s)", path,
                                 err ? strerror(err) : "HDF5 error");
    }
    wg_status s = wg_ckpt_seal(tmp);
    if (s != WG_OK) {
        unlink(tmp);
        return wg_set_last_error(s, "checkpoint_save: %s", wg_last_error());
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return wg_set_last_error(WG_EIO, "checkpoint_save: %s: rename failed: %s", path,
                                 strerror(err));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return WG_OK;
}
