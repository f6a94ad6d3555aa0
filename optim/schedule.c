/* Learning-rate schedules in closed form: StepLR, CosineAnnealingLR and a
 * LinearLR warm-up, as torch.optim.lr_scheduler computes them. */
#include "internal.h"

#include <math.h>

double wg_schedule_lr(const wg_schedule *s, double base, int64_t t)
{
    if (!s || t < 0)
        return base;
    double lr = base;
    switch (s->kind) {
    case WG_SCHED_CONSTANT:
        break;
    case WG_SCHED_STEP:
        if (s->step_size > 0)
            lr = base * pow(s->gamma, (double)(t / s->step_size));
        break;
    case WG_SCHED_COSINE:
        if (s->t_max > 0) {
            lr = s->min_lr + (base - s->min_lr) * (1 + cos(M_PI * (double)t / s->t_max)) / 2;
        }
        break;
    }
    if (s->warmup > 0 && t < s->warmup) {
        double start = s->warmup_start > 0 ? s->warmup_start : 1.0 / s->warmup;
        lr *= start + (1 - start) * (double)t / s->warmup;
    }
    return lr;
}
