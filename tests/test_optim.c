/* The optimizers, schedules, gradient clipping and freezing against
 * torch.optim 1.13, step for step: tools/make_optim_refs.py ran each case
 * in PyTorch (float64) and stored the parameters after every step in
 * tests/data/optim_ref.h5 (the script's header describes the file).
 *
 * Each case is a linear classifier, logits = X Wᵀ + b with W [3 x 4] and
 * b [3], trained for n_steps steps on a fixed batch X [5 x 4] with softmax
 * cross-entropy (or MSE to a target). Every step, as the script did:
 *
 *     wg_optim_set_lr(o, wg_schedule_lr(&s, lr, t))   (scheduled cases)
 *     forward, wg_backward()
 *     wg_clip_grad_norm(P, clip_max_norm)              (clipping cases)
 *     wg_optim_step(o)
 *
 * then W and b are compared with the reference after that step. Tensor T
 * passes step t when
 *
 *     max_i |ours_i - torch_i| <= 1e-6 * max_i |torch_i|
 *
 * (correct double code is near 1e-15), and a frozen parameter must keep its
 * initial values exactly. The learning rate, the loss before each step and
 * the norm returned by clipping are compared under the same rule, so a
 * failure says whether the schedule, the forward/backward pass or the
 * update went wrong first. For each case the test prints the worst relative
 * difference of the parameters over all steps.
 *
 * Built against the double library only: float32 rounding alone exceeds
 * 1e-6 relative over a few steps. A missing or unreadable file is a
 * failure, not a skip: the file is part of the source tree. */
#include <hdf5.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wengert.h>

#include "check.h"
#include "h5ref.h"

#ifndef WG_DOUBLE
#error "test_optim checks 1e-6 agreement and needs the double library: define WG_DOUBLE"
#endif

#define RTOL 1e-6
#define TOL_TEXT "max|ours - torch| <= 1e-6 * max|torch|"
#define FORMAT "wengert-optim-ref/1"

/* failing (step, tensor) pairs printed in full per case */
#define MAX_REPORTED 6

/* The cases the issue asks for; a file without one of them fails. */
static const char *const required_cases[] = {
    "sgd_plain",  "sgd_momentum",      "sgd_momentum_dampening", "sgd_nesterov",
    "sgd_weight_decay", "adam",        "adam_weight_decay",      "adamw",
    "sched_step", "sched_cosine",      "sched_warmup",           "clip",
    "freeze_bias_adam",
};
#define N_REQUIRED ((int)(sizeof required_cases / sizeof required_cases[0]))

/* A case's settings, the group's attributes. */
typedef struct config {
    char optimizer[16], loss[32], schedule[16], frozen[64];
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    double gamma, min_lr, warmup_start, clip_max_norm;
    int nesterov, step_size, t_max, warmup, unfreeze_at;
} config;

static bool read_config(hid_t g, const char *cname, config *c)
{
    static const struct {
        const char *name;
        size_t off, size;
    } strs[] = {
        { "optimizer", offsetof(config, optimizer), sizeof((config *)0)->optimizer },
        { "loss", offsetof(config, loss), sizeof((config *)0)->loss },
        { "schedule", offsetof(config, schedule), sizeof((config *)0)->schedule },
        { "frozen", offsetof(config, frozen), sizeof((config *)0)->frozen },
    };
    static const struct {
        const char *name;
        size_t off;
    } reals[] = {
        { "lr", offsetof(config, lr) },
        { "momentum", offsetof(config, momentum) },
        { "dampening", offsetof(config, dampening) },
        { "weight_decay", offsetof(config, weight_decay) },
        { "beta1", offsetof(config, beta1) },
        { "beta2", offsetof(config, beta2) },
        { "eps", offsetof(config, eps) },
        { "gamma", offsetof(config, gamma) },
        { "min_lr", offsetof(config, min_lr) },
        { "warmup_start", offsetof(config, warmup_start) },
        { "clip_max_norm", offsetof(config, clip_max_norm) },
    }, ints[] = {
        { "nesterov", offsetof(config, nesterov) },
        { "step_size", offsetof(config, step_size) },
        { "t_max", offsetof(config, t_max) },
        { "warmup", offsetof(config, warmup) },
        { "unfreeze_at", offsetof(config, unfreeze_at) },
    };
    memset(c, 0, sizeof *c);
    bool ok = true;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        bool got = read_str_attr(g, strs[i].name, (char *)c + strs[i].off, strs[i].size);
        CHECK(got, "%s: string attribute %s missing or unreadable", cname, strs[i].name);
        ok = ok && got;
    }
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        bool got = read_attr(g, reals[i].name, H5T_NATIVE_DOUBLE, (char *)c + reals[i].off, 1);
        CHECK(got, "%s: attribute %s missing or unreadable", cname, reals[i].name);
        ok = ok && got;
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        bool got = read_attr(g, ints[i].name, H5T_NATIVE_INT, (char *)c + ints[i].off, 1);
        CHECK(got, "%s: attribute %s missing or unreadable", cname, ints[i].name);
        ok = ok && got;
    }
    return ok;
}

/* Where a case stands: its worst parameter difference and its failures. */
typedef struct tally {
    const char *cname;
    double worst;        /* max over steps and tensors of max|diff| / max|torch| */
    char worst_where[96];
    int failed;          /* failing comparisons */
    int first_step;      /* 1-based step of the first one, 0: none */
} tally;

static void fail(tally *ty, int step)
{
    if (ty->failed++ == 0)
        ty->first_step = step;
    check_failures++;
}

/* Compares `what` at step `step` (1-based) with the reference `ref` (the
 * values of shape s; a scalar has shape WG_SCALAR); `exact` demands bitwise
 * equality (a frozen parameter against its initial values). Parameters
 * (`param`) count towards the case's worst difference. */
static void compare(tally *ty, int step, const char *what, const wg_real *ours, const double *ref,
                    wg_shape s, bool exact, bool param)
{
    char ib[64];
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++)
        n *= s.dim[i];
    double scale = 0, err = 0;
    int64_t at = 0;
    bool nan = false;
    for (int64_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(ref[i]));
        double e = fabs((double)ours[i] - ref[i]);
        if (e != e && !nan) {
            nan = true;
            at = i;
        }
        if (!nan && e > err) {
            err = e;
            at = i;
        }
    }
    check_count++;
    double rel = scale > 0 ? err / scale : (err > 0 ? HUGE_VAL : 0);
    if (nan)
        rel = HUGE_VAL;
    if (s.ndim == 0)
        ib[0] = '\0'; /* no "[]" after a scalar's name */
    else
        index_str(s, at, ib, sizeof ib);
    if (param && !exact && rel > ty->worst) {
        ty->worst = rel;
        snprintf(ty->worst_where, sizeof ty->worst_where, "%s%s after step %d", what, ib, step);
    }
    bool ok = exact ? !nan && err == 0 : !nan && err <= RTOL * scale;
    if (ok)
        return;
    if (ty->failed < MAX_REPORTED) {
        if (exact)
            fprintf(stderr, "  %s: step %d: %s%s: ours %.17g, initial %.17g: a frozen "
                    "parameter changed\n", ty->cname, step, what, ib, (double)ours[at], ref[at]);
        else
            fprintf(stderr, "  %s: step %d: %s%s: ours %.17g, torch %.17g (|diff| %.3g > "
                    "1e-6 * max|torch| = %.3g, relative %.3g)\n", ty->cname, step, what, ib,
                    (double)ours[at], ref[at], err, RTOL * scale, rel);
    } else if (ty->failed == MAX_REPORTED) {
        fprintf(stderr, "  %s: (further failures of this case not shown)\n", ty->cname);
    }
    fail(ty, step);
}

/* A scalar against its reference under the same rule. */
static void compare_scalar(tally *ty, int step, const char *what, double ours, double ref)
{
    wg_real o = (wg_real)ours;
    compare(ty, step, what, &o, &ref, WG_SCALAR, false, false);
}

static bool shape_is(const array *a, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    const int64_t d[3] = { d0, d1, d2 };
    if (a->shape.ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (a->shape.dim[i] != d[i])
            return false;
    return true;
}

static wg_optim *make_optim(wg_params *P, const config *c, const char *cname)
{
    wg_optim *o = NULL;
    if (strcmp(c->optimizer, "sgd") == 0) {
        wg_sgd_opts so = { .lr = c->lr, .momentum = c->momentum, .dampening = c->dampening,
                           .weight_decay = c->weight_decay, .nesterov = c->nesterov != 0 };
        o = wg_sgd(P, so);
    } else if (strcmp(c->optimizer, "adam") == 0 || strcmp(c->optimizer, "adamw") == 0) {
        wg_adam_opts ao = { .lr = c->lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                            .weight_decay = c->weight_decay };
        o = c->optimizer[4] == 'w' ? wg_adamw(P, ao) : wg_adam(P, ao);
    } else {
        CHECK(false, "%s: unknown optimizer \"%s\"", cname, c->optimizer);
        return NULL;
    }
    CHECK(o != NULL, "%s: creating the %s optimizer failed: %s", cname, c->optimizer,
          wg_last_error());
    if (o)
        CHECK(strcmp(wg_optim_kind(o), c->optimizer) == 0, "%s: wg_optim_kind says %s", cname,
              wg_optim_kind(o));
    return o;
}

static bool make_schedule(const config *c, const char *cname, wg_schedule *s, bool *scheduled)
{
    memset(s, 0, sizeof *s);
    if (strcmp(c->schedule, "constant") == 0) {
        s->kind = WG_SCHED_CONSTANT;
    } else if (strcmp(c->schedule, "step") == 0) {
        s->kind = WG_SCHED_STEP;
        s->step_size = c->step_size;
        s->gamma = c->gamma;
    } else if (strcmp(c->schedule, "cosine") == 0) {
        s->kind = WG_SCHED_COSINE;
        s->t_max = c->t_max;
        s->min_lr = c->min_lr;
    } else {
        CHECK(false, "%s: unknown schedule \"%s\"", cname, c->schedule);
        return false;
    }
    s->warmup = c->warmup;
    s->warmup_start = c->warmup_start;
    *scheduled = s->kind != WG_SCHED_CONSTANT || c->warmup > 0;
    return true;
}

/* One case: returns the index of its name in required_cases, or -1. */
static int run_case(hid_t cases, const char *cname, int n_steps)
{
    int req = -1;
    for (int i = 0; i < N_REQUIRED; i++)
        if (strcmp(cname, required_cases[i]) == 0)
            req = i;
    hid_t g = H5Gopen2(cases, cname, H5P_DEFAULT);
    if (g < 0) {
        CHECK(false, "%s: cannot open the group", cname);
        return -1;
    }
    config c;
    bool ok = read_config(g, cname, &c);
    const bool ce = strcmp(c.loss, "cross_entropy") == 0, clip = c.clip_max_norm > 0;
    if (ok && !ce && strcmp(c.loss, "mse") != 0) {
        CHECK(false, "%s: unknown loss \"%s\"", cname, c.loss);
        ok = false;
    }

    /* the problem and the reference trajectory */
    array W0 = { .v = NULL }, b0 = { .v = NULL }, X = { .v = NULL }, labels = { .v = NULL },
          target = { .v = NULL }, lr = { .v = NULL }, loss = { .v = NULL },
          gnorm = { .v = NULL }, Wr = { .v = NULL }, br = { .v = NULL };
    struct {
        const char *name;
        array *a;
        bool want;
        bool is_int;
    } sets[] = {
        { "W0", &W0, true, false },        { "b0", &b0, true, false },
        { "X", &X, true, false },          { "labels", &labels, ce, true },
        { "target", &target, !ce, false }, { "lr", &lr, true, false },
        { "loss", &loss, true, false },    { "grad_norm", &gnorm, clip, false },
        { "W", &Wr, true, false },         { "b", &br, true, false },
    };
    for (size_t i = 0; ok && i < sizeof sets / sizeof sets[0]; i++) {
        if (!sets[i].want)
            continue;
        bool got = sets[i].is_int
                       ? read_array(g, sets[i].name, H5T_NATIVE_INT32, sizeof(int32_t), sets[i].a)
                       : read_array(g, sets[i].name, H5T_NATIVE_DOUBLE, sizeof(double), sets[i].a);
        CHECK(got, "%s: dataset %s missing or unreadable", cname, sets[i].name);
        ok = ok && got;
    }
    if (ok) {
        int64_t out = W0.shape.dim[0], in = W0.shape.dim[1], N = X.shape.dim[0];
        bool shapes = W0.shape.ndim == 2 && shape_is(&b0, 1, out, 0, 0) &&
                      shape_is(&X, 2, N, in, 0) && (ce ? shape_is(&labels, 1, N, 0, 0)
                                                         : shape_is(&target, 2, N, out, 0)) &&
                      shape_is(&lr, 1, n_steps, 0, 0) && shape_is(&loss, 1, n_steps, 0, 0) &&
                      (!clip || shape_is(&gnorm, 1, n_steps, 0, 0)) &&
                      shape_is(&Wr, 3, n_steps, out, in) && shape_is(&br, 2, n_steps, out, 0);
        CHECK(shapes, "%s: the datasets' shapes do not fit together (W0 [out x in], b0 [out], "
              "X [N x in], labels [N] or target [N x out], lr, loss, grad_norm [%d], "
              "W [%d x out x in], b [%d x out])", cname, n_steps, n_steps, n_steps);
        ok = shapes;
    }

    wg_params *P = ok ? wg_params_new() : NULL;
    wg_tensor *W = P ? wg_param(P, "fc.weight", W0.shape) : NULL;
    wg_tensor *b = W ? wg_param(P, "fc.bias", b0.shape) : NULL;
    CHECK(!ok || (P && W && b), "%s: creating the parameters failed: %s", cname, wg_last_error());
    ok = ok && b;
    /* (data pointers after the last wg_param) */
    if (ok) {
        memcpy(wg_data(W), W0.v, (size_t)W0.n * sizeof(wg_real));
        memcpy(wg_data(b), b0.v, (size_t)b0.n * sizeof(wg_real));
    }
    wg_tensor *frozen = NULL;
    if (ok && c.frozen[0]) {
        frozen = wg_params_find(P, c.frozen);
        CHECK(frozen != NULL, "%s: no parameter named \"%s\" to freeze", cname, c.frozen);
        CHECK(wg_params_freeze(P, c.frozen, true) == 1, "%s: freezing %s matched no or several "
              "parameters", cname, c.frozen);
        ok = frozen != NULL;
    }
    wg_optim *o = ok ? make_optim(P, &c, cname) : NULL;
    wg_schedule sched;
    bool scheduled = false;
    ok = o && make_schedule(&c, cname, &sched, &scheduled);
    wg_tape *tape = ok ? wg_tape_new() : NULL;
    CHECK(!ok || tape, "%s: wg_tape_new: %s", cname, wg_last_error());
    ok = ok && tape;

    tally ty = { .cname = cname };
    const double *lr_r = lr.v, *loss_r = loss.v, *gnorm_r = gnorm.v;
    const double *W_r = Wr.v, *b_r = br.v;
    int done = 0; /* steps run to the end */
    for (int t = 0; ok && t < n_steps; t++, done++) {
        const int step = t + 1;
        if (frozen && t == c.unfreeze_at)
            wg_params_freeze(P, c.frozen, false);
        const bool is_frozen = frozen && (c.unfreeze_at < 0 || t < c.unfreeze_at);

        if (scheduled)
            wg_optim_set_lr(o, wg_schedule_lr(&sched, c.lr, t));
        compare_scalar(&ty, step, "learning rate", wg_optim_lr(o), lr_r[t]);

        wg_tape_reset(tape);
        wg_tensor *x = wg_input(tape, X.v, X.shape);
        wg_tensor *logits = wg_add(tape, wg_matmul_nt(tape, x, W), b);
        wg_tensor *l = ce ? wg_softmax_cross_entropy(tape, logits, labels.v)
                          : wg_mse(tape, logits, wg_input(tape, target.v, target.shape));
        wg_status st = wg_backward(tape, l);
        CHECK(st == WG_OK, "%s: step %d: wg_backward: %s: %s", cname, step, wg_strerror(st),
              wg_tape_error(tape));
        if (st != WG_OK)
            break;
        compare_scalar(&ty, step, "loss before the step", (double)wg_item(l), loss_r[t]);
        if (clip) {
            double norm = wg_clip_grad_norm(P, c.clip_max_norm);
            compare_scalar(&ty, step, "gradient norm (wg_clip_grad_norm)", norm, gnorm_r[t]);
        }
        st = wg_optim_step(o);
        CHECK(st == WG_OK, "%s: step %d: wg_optim_step: %s: %s", cname, step, wg_strerror(st),
              wg_last_error());
        if (st != WG_OK)
            break;
        compare(&ty, step, "W", wg_data(W), is_frozen && frozen == W ? W0.v : W_r + t * W0.n,
                W0.shape, is_frozen && frozen == W, true);
        compare(&ty, step, "b", wg_data(b), is_frozen && frozen == b ? b0.v : b_r + t * b0.n,
                b0.shape, is_frozen && frozen == b, true);
    }
    if (done == n_steps)
        CHECK(wg_optim_steps(o) == n_steps, "%s: wg_optim_steps says %" PRId64 " after %d steps",
              cname, wg_optim_steps(o), n_steps);
    if (ty.failed)
        fprintf(stderr, "%s:%d: FAIL: %s: %d comparisons outside " TOL_TEXT
                " (or a frozen parameter changed), the first at step %d\n",
                __FILE__, __LINE__, cname, ty.failed, ty.first_step);
    if (done < n_steps)
        printf("  %-26s FAIL, stopped after %d of %d steps (see above)\n", cname, done, n_steps);
    else
        printf("  %-26s %s, worst |ours - torch| / max|torch| %.2g (%s)\n", cname,
               ty.failed ? "FAIL" : "ok  ", ty.worst,
               ty.worst_where[0] ? ty.worst_where : "bitwise equal");

    wg_tape_free(tape);
    wg_optim_free(o);
    wg_params_free(P);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        array_free(sets[i].a);
    H5Gclose(g);
    return req;
}

static void run_file(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        CHECK(false, "cannot open %s (regenerate it with tools/make_optim_refs.py)", path);
        return;
    }
    char format[64];
    bool fmt_ok = read_str_attr(f, "format", format, sizeof format) &&
                  strcmp(format, FORMAT) == 0;
    CHECK(fmt_ok, "%s: format attribute is not \"" FORMAT "\"", path);
    int n_cases = -1, n_steps = -1;
    CHECK(read_attr(f, "n_cases", H5T_NATIVE_INT, &n_cases, 1), "%s: n_cases attribute missing",
          path);
    CHECK(read_attr(f, "n_steps", H5T_NATIVE_INT, &n_steps, 1), "%s: n_steps attribute missing",
          path);
    CHECK(n_steps >= 10, "%s: %d steps per case, at least 10 wanted", path, n_steps);

    hid_t cases = fmt_ok ? H5Gopen2(f, "cases", H5P_DEFAULT) : H5I_INVALID_HID;
    H5G_info_t info;
    if (fmt_ok && (cases < 0 || H5Gget_info(cases, &info) < 0)) {
        CHECK(false, "%s: no /cases group", path);
    } else if (fmt_ok && n_steps >= 1) {
        CHECK((hsize_t)n_cases == info.nlinks, "%s: n_cases says %d, /cases holds %llu", path,
              n_cases, (unsigned long long)info.nlinks);
        printf("test_optim: %llu cases of %d steps from %s\n", (unsigned long long)info.nlinks,
               n_steps, path);
        bool seen[N_REQUIRED] = { false };
        for (hsize_t i = 0; i < info.nlinks; i++) {
            char name[256];
            ssize_t len = H5Lget_name_by_idx(cases, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                             sizeof name, H5P_DEFAULT);
            if (len <= 0 || (size_t)len >= sizeof name) {
                CHECK(false, "%s: name of case %llu unreadable", path, (unsigned long long)i);
                continue;
            }
            int k = run_case(cases, name, n_steps);
            if (k >= 0)
                seen[k] = true;
        }
        for (int k = 0; k < N_REQUIRED; k++)
            CHECK(seen[k], "%s: no case %s", path, required_cases[k]);
    }
    if (cases >= 0)
        H5Gclose(cases);
    H5Fclose(f);
}

/* A running average whose gradient stopped decays into the subnormal
 * range, where x86 arithmetic is ~100 cycles per operation (optim.h):
 * the optimizers flush their state to zero below the smallest normal
 * number. Each parameter gets one tiny gradient, then 300 steps of none;
 * without the flush the saved state would still hold subnormals
 * (1e-301 * 0.9^299 = 2e-315), with it every element is exactly 0. */
static void tiny_state_flushed(const char *kind)
{
    const bool sgd = strcmp(kind, "sgd") == 0;
    wg_model *m = wg_softmax_regression(5, 3, WG_INIT_DEFAULT, 1);
    wg_optim *o = !m ? NULL
                  : sgd ? wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.1, .momentum = 0.9 })
                        : wg_adam(wg_model_params(m), (wg_adam_opts){ .lr = 1e-3, .beta1 = 0.9,
                                                                      .beta2 = 0.999, .eps = 1e-8 });
    CHECK(o != NULL, "%s: creating the model or optimizer failed: %s", kind, wg_last_error());
    if (!o) {
        wg_model_free(m);
        return;
    }
    wg_params *P = wg_model_params(m);
    const int64_t n = wg_params_numel(P);
    wg_real *g = wg_params_grads(P);
    for (int64_t i = 0; i < n; i++)
        g[i] = (wg_real)1e-301;
    bool ok = true;
    for (int s = 0; s < 301 && ok; s++)
        ok = wg_optim_step(o) == WG_OK; /* the step zeroes the gradients */
    CHECK(ok, "%s: wg_optim_step: %s", kind, wg_last_error());
    char path[] = "/tmp/wg_test_optim_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp failed");
    if (fd >= 0) {
        close(fd);
        wg_status st = wg_checkpoint_save(path, m, o, NULL);
        CHECK(st == WG_OK, "%s: wg_checkpoint_save: %s", kind, wg_last_error());
        hid_t f = st == WG_OK ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
        hid_t grp = f >= 0 ? H5Gopen2(f, "/optimizer/state/fc/weight", H5P_DEFAULT)
                           : H5I_INVALID_HID;
        CHECK(st != WG_OK || grp >= 0, "%s: no /optimizer/state/fc/weight in the checkpoint",
              kind);
        const char *sets[] = { sgd ? "momentum_buffer" : "exp_avg", sgd ? NULL : "exp_avg_sq" };
        for (int k = 0; k < 2 && grp >= 0 && sets[k]; k++) {
            array a;
            bool got = read_array(grp, sets[k], H5T_NATIVE_DOUBLE, sizeof(double), &a);
            CHECK(got, "%s: %s unreadable", kind, sets[k]);
            int nonzero = 0;
            double first = 0;
            for (int64_t i = 0; got && i < a.n; i++)
                if (((double *)a.v)[i] != 0 && !nonzero++)
                    first = ((double *)a.v)[i];
            CHECK(got && a.n == 15 && nonzero == 0, "%s: %s of fc.weight after 300 steps without "
                  "gradient: %d of %lld elements not flushed to 0 (the first %g)", kind, sets[k],
                  nonzero, (long long)a.n, first);
            if (got)
                array_free(&a);
        }
        if (grp >= 0)
            H5Gclose(grp);
        if (f >= 0)
            H5Fclose(f);
        unlink(path);
    }
    wg_optim_free(o);
    wg_model_free(m);
}

int main(void)
{
    /* failures are reported here, with the case; HDF5's own stack traces
     * would only bury them */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    const char *dir = getenv("WG_TEST_DATA");
    if (!dir || !*dir)
        dir = "tests/data";
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/optim_ref.h5", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        CHECK(false, "WG_TEST_DATA is too long");
        return check_done("test_optim");
    }
    run_file(path);
    tiny_state_flushed("sgd");
    tiny_state_flushed("adam");
    /* frees HDF5's own state, so valgrind shows only what is ours */
    H5close();
    return check_done("test_optim");
}
