/* 2-D cross-correlation (what deep learning calls convolution): the op,
 * its checks and the choice of path.
 *
 * Two ways to compute it, both over the same chunks of images (conv2d.h):
 * - conv2d_direct.c, for stride 1 where the CPU has AVX2 or AVX-512 (see
 *   wg_cpu_level; WG_CPU can rule them out): forward, input and weight
 *   gradients by hand-vectorised loops, a block of channels per vector of
 *   positions. LeNet's layers are small (6 or 16 channels, 5x5 kernels),
 *   where im2col's copies and thin GEMMs cost most of the time.
 * - conv2d_gemm.c, otherwise: im2col and one GEMM per chunk of images.
 * Each path computes every output in a fixed order, so the bits do not
 * depend on the thread count; the two paths' bits differ.
 *
 * With stride 1 both use the "wide" layout: an output row is computed at
 * every column of the padded input row (WP of them instead of OW), so that
 * a kernel tap's input is one contiguous run of the padded image, shifted
 * by i*WP + j. The WP - OW extra columns per row are dropped from the
 * output, their gradient is zero, and what they read lies inside the
 * image's own padded copy. */
#include "conv2d.h"

static conv_geom geometry(const wg_node *nd)
{
    const wg_tensor *x = nd->in[0], *w = nd->in[1], *y = nd->out;
    conv_geom g = { .n = (int)x->shape.dim[0], .c = (int)x->shape.dim[1],
               .h = (int)x->shape.dim[2], .w = (int)x->shape.dim[3],
               .o = (int)w->shape.dim[0], .kh = (int)w->shape.dim[2],
               .kw = (int)w->shape.dim[3], .oh = (int)y->shape.dim[2],
               .ow = (int)y->shape.dim[3], .sh = (int)nd->hp[HP_SH],
               .sw = (int)nd->hp[HP_SW], .pt = (int)nd->hp[HP_PT], .pl = (int)nd->hp[HP_PL] };
    g.wide = g.sh == 1 && g.sw == 1;
    g.hp = g.oh + g.kh - 1;
    g.wp = g.ow + g.kw - 1;
    g.rs = g.wide ? g.wp : g.ow;
    g.len = (int64_t)g.oh * g.rs;
    g.plane = (int64_t)g.hp * g.wp;
    /* the last row of col reads KW - 1 past the last plane, and the direct
     * kernels' last vector up to WG_DIRECT_SLACK further */
    g.padded = g.wide ? g.c * g.plane + g.kw - 1 + WG_DIRECT_SLACK : 0;
    return g;
}

/* db[o] += the sum of dy over images and positions: each image's plane in
 * eight float lanes (vectorisable, a fixed order), the planes in double */
static void bias_grad(const conv_geom *g, const wg_real *dy, wg_real *db)
{
    const int ohw = g->oh * g->ow;
    /* channels are independent sums: any split into threads, the same bits */
    int threads = wg_threads_for((int64_t)g->n * g->o * ohw);
    if (threads > g->o)
        threads = g->o;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int o = 0; o < g->o; o++) {
        double s = 0;
        for (int n = 0; n < g->n; n++) {
            const wg_real *d = dy + ((int64_t)n * g->o + o) * ohw;
            wg_real lane[8] = { 0 };
            int k = 0;
            for (; k + 8 <= ohw; k += 8)
                for (int l = 0; l < 8; l++)
                    lane[l] += d[k + l];
            for (; k < ohw; k++)
                lane[k & 7] += d[k];
            for (int l = 0; l < 8; l++)
                s += lane[l];
        }
        db[o] += (wg_real)s;
    }
}

static wg_status conv2d_backward(wg_tape *t, wg_node *nd)
{
    const conv_geom g = geometry(nd);
    const wg_tensor *w = nd->in[1];
    const wg_real *dy = nd->out->grad;
    /* dx is set rather than added to when fresh, unless the input is also
     * the weight (then dW would add to a buffer not yet written) */
    bool dx_acc = true;
    wg_real *dx = nd->in[0] == nd->in[1] ? wg_in_grad(t, nd, 0)
                                         : wg_in_grad_dst(t, nd, 0, &dx_acc);
    wg_real *dw = wg_in_grad(t, nd, 1);
    wg_real *db = nd->n_in > 2 ? wg_in_grad(t, nd, 2) : NULL;
    if (t->status != WG_OK)
        return t->status;
    if (db)
        bias_grad(&g, dy, db);
    if (!dx && !dw)
        return WG_OK;
    const int lanes = g.wide ? wg_conv_direct_lanes() : 0;
    if (lanes)
        return wg_conv_direct_backward(t, &g, nd->in[0], w, dy, dx, dx_acc, dw, lanes);
    return wg_conv_gemm_backward(t, &g, nd->in[0], w, dy, dx, dx_acc, dw);
}


const wg_op_desc wg_op_conv2d = { "conv2d", 3, conv2d_backward };

wg_tensor *wg_conv2d_ex(wg_tape *t, wg_tensor *x, wg_tensor *w, wg_tensor *b, wg_conv2d_opts o)
{
    static const char *op = "conv2d";
    wg_tensor *in[3] = { x, w, b };
    const int n_in = b ? 3 : 2;
    if (!wg_op_begin(t, op, in, n_in))
        return wg_poison(t);
    wg_shape_buf sx, sw, sb;
    if (x->shape.ndim != 4 || w->shape.ndim != 4)
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: expected [N x C x H x W] and "
                       "[O x C x KH x KW]", wg_shp(x, &sx), wg_shp(w, &sw));
    for (int i = 0; i < 4; i++)
        if (!WG_FITS_INT(x->shape.dim[i]) || !WG_FITS_INT(w->shape.dim[i]))
            return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: a dimension is too large",
                           wg_shp(x, &sx), wg_shp(w, &sw));
    if (x->shape.dim[1] != w->shape.dim[1])
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: input has %lld channels, weight "
                       "expects %lld", wg_shp(x, &sx), wg_shp(w, &sw),
                       (long long)x->shape.dim[1], (long long)w->shape.dim[1]);
    if (w->shape.dim[0] < 1 || w->shape.dim[2] < 1 || w->shape.dim[3] < 1)
        return wg_fail(t, WG_ESHAPE, op, "weight %s: needs at least one filter of size >= 1x1",
                       wg_shp(w, &sw));
    if (b && (b->shape.ndim != 1 || b->shape.dim[0] != w->shape.dim[0]))
        return wg_fail(t, WG_ESHAPE, op, "weight %s, bias %s: bias must be [%lld]",
                       wg_shp(w, &sw), wg_shp(b, &sb), (long long)w->shape.dim[0]);
    if (o.stride_h < 1 || o.stride_w < 1)
        return wg_fail(t, WG_EINVAL, op, "stride %d x %d: must be >= 1", o.stride_h, o.stride_w);
    if (o.pad_top < 0 || o.pad_bottom < 0 || o.pad_left < 0 || o.pad_right < 0)
        return wg_fail(t, WG_EINVAL, op, "padding (top %d, bottom %d, left %d, right %d): must "
                       "be >= 0", o.pad_top, o.pad_bottom, o.pad_left, o.pad_right);
    const int64_t ph = x->shape.dim[2] + o.pad_top + o.pad_bottom;
    const int64_t pw = x->shape.dim[3] + o.pad_left + o.pad_right;
    if (ph < w->shape.dim[2] || pw < w->shape.dim[3])
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: kernel %lldx%lld is larger than "
                       "the padded input %lldx%lld", wg_shp(x, &sx), wg_shp(w, &sw),
                       (long long)w->shape.dim[2], (long long)w->shape.dim[3], (long long)ph,
                       (long long)pw);
    const int64_t oh = (ph - w->shape.dim[2]) / o.stride_h + 1;
    const int64_t ow = (pw - w->shape.dim[3]) / o.stride_w + 1;
    const int64_t ckk = w->shape.dim[1] * w->shape.dim[2] * w->shape.dim[3];
    /* pw >= ow: room for the wide layout's columns, twice for a chunk */
    if (!WG_FITS_INT(2 * oh * pw) || !WG_FITS_INT(ckk) || !WG_FITS_INT(ckk * oh * pw))
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: too large", wg_shp(x, &sx),
                       wg_shp(w, &sw));
    wg_tensor *y = wg_op_output(t, op, WG_SHAPE(x->shape.dim[0], w->shape.dim[0], oh, ow));
    if (!y)
        return wg_poison(t);

    wg_node tmp = { .n_in = n_in, .out = y, .in = { x, w, b } };
    tmp.hp[HP_SH] = o.stride_h;
    tmp.hp[HP_SW] = o.stride_w;
    tmp.hp[HP_PT] = o.pad_top;
    tmp.hp[HP_PB] = o.pad_bottom;
    tmp.hp[HP_PL] = o.pad_left;
    tmp.hp[HP_PR] = o.pad_right;
    const conv_geom g = geometry(&tmp);
    const int lanes = g.wide ? wg_conv_direct_lanes() : 0;
    if (lanes)
        wg_conv_direct_forward(t, &g, x, w, b, y, lanes);
    else
        wg_conv_gemm_forward(t, &g, x, w, b, y);
    if (t->status != WG_OK)
        return wg_poison(t);
    if (wg_op_recording(t, in, n_in)) {
        wg_node *nd = wg_op_record(t, &wg_op_conv2d, y, in, n_in);
        if (!nd)
            return wg_poison(t);
        for (int i = 0; i < WG_MAX_HP; i++)
            nd->hp[i] = tmp.hp[i];
    }
    return y;
}

wg_tensor *wg_conv2d(wg_tape *t, wg_tensor *x, wg_tensor *w, wg_tensor *b, int stride, int padding)
{
    return wg_conv2d_ex(t, x, w, b,
                        (wg_conv2d_opts){ stride, stride, padding, padding, padding, padding });
}
