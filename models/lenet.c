/* LeNet-5 for 1x28x28 images, the classic layout with tanh and max
 * pooling. PyTorch twin (same attribute names, so a state_dict maps one to
 * one):
 *
 *   class LeNet5(nn.Module):
 *       def __init__(self, classes=10):
 *           super().__init__()
 *           self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
 *           self.conv2 = nn.Conv2d(6, 16, 5)
 *           self.fc1 = nn.Linear(400, 120)
 *           self.fc2 = nn.Linear(120, 84)
 *           self.fc3 = nn.Linear(84, classes)
 *       def forward(self, x):
 *           x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
 *           x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)
 *           x = torch.tanh(self.fc1(x.flatten(1)))
 *           x = torch.tanh(self.fc2(x))
 *           return self.fc3(x)
 */
#include "models.h"

typedef struct {
    wg_conv2d_layer conv1, conv2;
    wg_linear fc1, fc2, fc3;
} lenet;

static wg_tensor *lenet_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    (void)m;
    const lenet *s = state;
    if (wg_ndim(x) == 2) /* flat 784-pixel rows are accepted too */
        x = wg_reshape(t, x, WG_SHAPE(-1, 1, 28, 28));
    x = wg_activate(t, WG_ACT_TANH, wg_conv2d_layer_apply(t, &s->conv1, x), "conv1");
    x = wg_set_name(wg_maxpool2d(t, x, 2, 2), "pool1");
    x = wg_activate(t, WG_ACT_TANH, wg_conv2d_layer_apply(t, &s->conv2, x), "conv2");
    x = wg_set_name(wg_maxpool2d(t, x, 2, 2), "pool2");
    x = wg_flatten(t, x);
    x = wg_activate(t, WG_ACT_TANH, wg_linear_apply(t, &s->fc1, x), "fc1");
    x = wg_activate(t, WG_ACT_TANH, wg_linear_apply(t, &s->fc2, x), "fc2");
    return wg_linear_apply(t, &s->fc3, x);
}

wg_model *wg_lenet5(int classes, wg_init init, uint64_t seed)
{
    lenet *s = wg_calloc(1, sizeof *s);
    wg_model *m = s ? wg_model_new("lenet5", lenet_forward, s, wg_free, seed) : NULL;
    if (!m) {
        wg_free(s);
        wg_set_last_error(WG_ENOMEM, "lenet5: out of memory");
        return NULL;
    }
    wg_params *p = wg_model_params(m);
    wg_rng *r = wg_model_rng(m);
    if (wg_conv2d_layer_init(&s->conv1, p, "conv1", 1, 6, 5, 1, 2, true, init, r) ||
        wg_conv2d_layer_init(&s->conv2, p, "conv2", 6, 16, 5, 1, 0, true, init, r) ||
        wg_linear_init(&s->fc1, p, "fc1", 400, 120, true, init, r) ||
        wg_linear_init(&s->fc2, p, "fc2", 120, 84, true, init, r) ||
        wg_linear_init(&s->fc3, p, "fc3", 84, classes, true, init, r) ||
        wg_model_set_int(m, "classes", classes) || wg_model_set_init(m, init)) {
        wg_model_free(m);
        return NULL;
    }
    return m;
}
