/* Saving a checkpoint, crash-safe: everything is written to a temporary
 * file beside the target, sealed with its CRC, flushed to disk, and only
 * then renamed over the target (rename is atomic within a directory), and
 * the directory itself is flushed so the rename survives a power cut.
 *
 * libhdf5 builds the file in memory and never writes to disk itself: when
 * one of its writes fails (a full disk, a file-size limit), libhdf5 1.10
 * keeps the file open in a state that crashes the next close, or the
 * library's clean-up at exit. Our own write() reports the error and
 * nothing is left behind. */
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

/* Bob Jenkins' lookup3 hash (public domain), byte by byte: the checksum
 * of HDF5's metadata (H5_checksum_metadata, initial value 0). */
#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static uint32_t lookup3(const unsigned char *k, size_t length)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)length;
    while (length > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c, a ^= ROT(c, 4), c += b;
        b -= a, b ^= ROT(a, 6), a += c;
        c -= b, c ^= ROT(b, 8), b += a;
        a -= c, a ^= ROT(c, 16), c += b;
        b -= a, b ^= ROT(a, 19), a += c;
        c -= b, c ^= ROT(b, 4), b += a;
        length -= 12;
        k += 12;
    }
    if (length == 0)
        return c;
    for (size_t i = 0; i < length; i++) { /* the last 1 to 12 bytes, into a, b, c */
        uint32_t v = (uint32_t)k[i] << (8 * (i % 4));
        if (i < 4)
            a += v;
        else if (i < 8)
            b += v;
        else
            c += v;
    }
    c ^= b, c -= ROT(b, 14);
    a ^= c, a -= ROT(c, 11);
    b ^= a, b -= ROT(a, 25);
    c ^= b, c -= ROT(b, 16);
    a ^= c, a -= ROT(c, 4);
    b ^= a, b -= ROT(a, 14);
    c ^= b, c -= ROT(b, 24);
    return c;
}
#undef ROT

/* H5Fget_file_image (libhdf5 1.10) clears the "open for writing" flag in
 * the copy's superblock, as a closed file has it, but keeps the checksum
 * of the flagged superblock, so the copy would not open. Clears the flags
 * (whatever the library version did) and recomputes the checksum, for a
 * version 2 or 3 superblock (what H5F_LIBVER_V110 writes): the signature,
 * version, sizes, flags and four addresses, then the checksum. */
static bool fix_superblock(unsigned char *img, size_t n)
{
    static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    if (n < 12 || memcmp(img, sig, 8) != 0 || (img[8] != 2 && img[8] != 3))
        return false;
    size_t len = 12 + 4 * (size_t)img[9];
    if (n < len + 4)
        return false;
    img[11] = 0;
    uint32_t sum = lookup3(img, len);
    for (int i = 0; i < 4; i++)
        img[len + i] = (unsigned char)(sum >> (8 * i));
    return true;
}

/* Builds the checkpoint in memory (the core driver, no backing store) and
 * hands back its bytes (wg_malloc'ed) in *image: the HDF5 part only, the
 * user block reserved in front of it is not in the image.
 * -2 when only the copy of the bytes found no memory. */
static herr_t build_image(const char *name, wg_model *m, const wg_optim *o,
                          const wg_train_state *ts, void **image, size_t *size)
{
    *image = NULL;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_userblock(fcpl, WG_CKPT_USERBLOCK);
    H5Pset_obj_track_times(fcpl, 0);
    /* the 1.10 format checksums all metadata */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
    H5Pset_fapl_core(fapl, 64 * 1024, 0);
    hid_t f = H5Fcreate(name, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (f < 0)
        return -1;
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
    ssize_t n = r >= 0 && H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0 ? H5Fget_file_image(f, NULL, 0) : -1;
    if (n > 0 && !(*image = wg_malloc((size_t)n)))
        r = -2;
    else if (n > 0 && H5Fget_file_image(f, *image, (size_t)n) == n &&
             fix_superblock(*image, (size_t)n))
        *size = (size_t)n;
    else
        r = -1;
    if (H5Fclose(f) < 0)
        r = -1;
    if (r < 0) {
        wg_free(*image);
        *image = NULL;
    }
    return r;
}

/* Writes all n bytes to fd; -1 with errno set on failure. */
static int write_bytes(int fd, const void *b, size_t n)
{
    const char *p = b;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A new file at path: the user block (zeros, until wg_ckpt_seal writes the
 * checksum header into it), then the HDF5 image; -1 with errno set. */
static int write_file(const char *path, const void *image, size_t n)
{
    static const unsigned char zeros[WG_CKPT_USERBLOCK];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int r = write_bytes(fd, zeros, sizeof zeros) == 0 && write_bytes(fd, image, n) == 0 ? 0 : -1;
    int err = errno;
    if (close(fd) != 0 && r == 0)
        return -1;
    errno = err;
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
    void *image;
    size_t size = 0;
    H5E_BEGIN_TRY
    {
        r = build_image(tmp, m, opt, ts, &image, &size);
    }
    H5E_END_TRY;
    if (r == -2)
        return wg_set_last_error(WG_ENOMEM, "checkpoint_save: %s: out of memory", path);
    if (r < 0)
        return wg_set_last_error(WG_EIO, "checkpoint_save: %s: writing failed (HDF5 error)", path);
    r = write_file(tmp, image, size);
    int err = errno;
    wg_free(image);
    if (r < 0) {
        unlink(tmp);
        return wg_set_last_error(WG_EIO, "checkpoint_save: %s: writing failed (%s)", path,
                                 strerror(err));
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
