#!/usr/bin/python3
"""Write tests/data/torch_ref.h5: PyTorch's results for every wengert op.

Run from anywhere with Debian's interpreter (python3-torch, python3-h5py,
python3-numpy):

    /usr/bin/python3 tools/make_torch_refs.py [output.h5]

tests/test_torch_ref.c reads the file and runs each case through wengert's
public API. PyTorch is a second oracle next to the finite-difference checks:
it catches errors a gradient check cannot see (a forward pass that is wrong
but self-consistent, a convention that differs from PyTorch's).

Determinism
-----------
Each case draws its inputs from a numpy RandomState seeded with the CRC-32
of the case name, and its dy from one seeded with the CRC-32 of
"<name>/dy": adding, removing or reordering cases leaves every other case's
numbers unchanged. No object in the file records a time, so running the
script again writes the same bytes.

Precision
---------
* Inputs (`in0`, `in1`, `in2`) and the upstream gradient `dy` are drawn
  in float64, rounded to float32 and stored as float32. The C test feeds
  exactly these values to the library.
* PyTorch computes the references in float64 from those float32 values
  (cast exactly to float64), so a reference carries no float32 rounding of
  its own.
* Outputs and gradients (`out`, `probs`, `grad_in*`) are stored as float64,
  so the same file can serve a test of the double library with a tighter
  tolerance.

Tolerance
---------
tests/test_torch_ref.c passes element i of a reference tensor r when our
value o_i satisfies

    |o_i - r_i| <= RTOL * |r_i| + ATOL * max_j |r_j|,  RTOL = 1e-4, ATOL = 1e-5

Correct float32 code stays near 1e-6 relative (a few ulps, growing like
sqrt(K) over a K-term sum); this script fails unless PyTorch's own float32
results, from the same float32 inputs and dy, use at most a tenth of the
tolerance in every element. A 1% error in any element whose magnitude is
at least 0.2% of its tensor's largest fails (the script reports what share
of all elements that is). The ATOL term is there for
elements that cancel to near zero, where float32 cannot give 1e-4 relative.

Large cases
-----------
Two cases are large: matmul_tiled_260x32x260 (2.2e6 multiply-adds, both
output extents above the library's 256-wide GEMM tile, so the product and
both gradient products run tiled with a ragged last tile) and conv_lenet.
Their inputs and dy are small integers or multiples of 1/8 and 1/16, many of
them 0 (a digit image is mostly background; dy behind a ReLU is mostly 0).
Every product and sum is then exact in float32, so the stored results
compress to a few bits per value, and a tiling or indexing error shows as a
difference of a whole grid step.

HDF5 layout
-----------
/                         attributes: format = "wengert-torch-ref/1" (string),
                          torch_version (string), n_cases (int32),
                          rtol, atol (float64, as above; informative)
/cases/<case_name>/       one group per case; the C test visits them in name
                          order. Attributes:
    op                    string: matmul, matmul_nt, matmul_tn, add, sub,
                          mul, sum, mean, sigmoid, tanh, relu, conv2d,
                          maxpool2d, softmax_cross_entropy, mse, reshape,
                          flatten
    stride_h, stride_w,   int32, conv2d
    pad_top, pad_bottom,
    pad_left, pad_right
    kh, kw,               int32, maxpool2d
    stride_h, stride_w
    shape                 int64 1-D, reshape: the requested shape (may
                          hold one -1)
  Datasets:
    in0, in1, in2         float32, the op's tensor inputs in API order
                          (conv2d: x, weight, and bias only if it has one;
                          mse: pred, target; softmax_cross_entropy: logits)
    labels                int32 [N], softmax_cross_entropy only
    dy                    float32, shape of out: the upstream gradient
    out                   float64, the op's output; a 0-d dataset for the
                          scalar results of sum, mean, mse and
                          softmax_cross_entropy
    probs                 float64 [N, C], softmax_cross_entropy only:
                          torch.softmax(logits, dim=1)
    grad_in0, grad_in1,   float64, shape of the input: the vector-Jacobian
    grad_in2              product dy . d out / d in_k, one per tensor input
                          (every tensor input is differentiable; labels are
                          not)
Strings are fixed-length UTF-8, null-padded (no terminator when the text
fills the length). Datasets of fewer than 512 elements are compact; larger
ones are one chunk compressed with gzip, after a byte shuffle where that
helps. The file uses the HDF5 1.10 format.
"""

import os
import sys
import zlib

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from h5ref import dataset_properties, string_attr

RTOL = 1e-4
ATOL = 1e-5
# PyTorch's float32 result must sit this far inside the tolerance, so that
# another correct float32 implementation (other summation order, other
# libm) passes too.
SELF_CHECK_MARGIN = 0.1

COMPRESS_MIN = 512
# The file is committed; more than this means a case should shrink.
MAX_FILE_BYTES = 300 * 1024

torch.set_num_threads(1)  # keeps float32 self-check results reproducible


def case_rng(name):
    return np.random.RandomState(zlib.crc32(name.encode("utf-8")))


def f32(a):
    # np.array, not ascontiguousarray, which would turn a 0-d array into 1-d
    return np.array(np.asarray(a, dtype=np.float64), dtype=np.float32, order="C")


def randn(rng, *shape, scale=1.0, shift=0.0):
    return f32(rng.standard_normal(shape) * scale + shift)


def grid(rng, *shape, step=0.125, lim=16, density=1.0):
    """Integers in [-lim, lim] times `step`, each nonzero with probability
    `density` at most: exact in float32, and so are short sums of their
    products."""
    v = rng.randint(-lim, lim + 1, size=shape) * step
    if density < 1.0:
        v = v * (rng.uniform(size=shape) < density)
    return f32(v)


def away_from_zero(rng, *shape, gap=0.05):
    x = rng.standard_normal(shape)
    x = np.where(np.abs(x) < gap, np.sign(x + 1e-300) * (gap + rng.uniform(0.0, 0.5, shape)), x)
    return f32(x)


def distinct(rng, *shape):
    """A permutation of a grid: no two elements are equal, so max pooling
    has no ties, and every value is exact in float32."""
    n = int(np.prod(shape))
    return f32((rng.permutation(n) - n // 2).reshape(shape) * 0.125)


def dataset(group, name, arr):
    arr = np.asarray(arr)
    dcpl = dataset_properties()
    if arr.size >= COMPRESS_MIN:
        # one chunk: the whole array compresses as one stream. HDF5's
        # deflate is zlib's, so zlib tells whether byte shuffling helps.
        dcpl.set_chunk(arr.shape)
        flat = np.ascontiguousarray(arr)
        planes = flat.view(np.uint8).reshape(-1, flat.itemsize).T.tobytes()
        if len(zlib.compress(planes, 9)) < len(zlib.compress(flat.tobytes(), 9)):
            dcpl.set_shuffle()
        dcpl.set_deflate(9)
    else:
        # compact: the values sit in the object header, no separate block
        dcpl.set_layout(h5py.h5d.COMPACT)
    group.create_dataset(name, data=arr, dcpl=dcpl)


def tolerance_ratio(ours, ref):
    """Largest |ours - ref| / tol over elements (> 1 fails)."""
    ours = np.asarray(ours, dtype=np.float64).ravel()
    ref = np.asarray(ref, dtype=np.float64).ravel()
    if ref.size == 0:
        return 0.0
    scale = np.max(np.abs(ref))
    tol = RTOL * np.abs(ref) + ATOL * scale
    err = np.abs(ours - ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(err == 0, 0.0, err / tol)
    return float(np.max(r))


class Writer:
    def __init__(self, path):
        # The 1.10 file format keeps small groups' links in the object
        # header (no per-group heap and B-tree) and indexes a one-chunk
        # dataset without a B-tree: the file is 30% smaller than in the
        # oldest format. Every HDF5 from 1.10 on reads it. No object records
        # its modification time, so the same values give the same bytes.
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)
        self.f = h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl,
                                           fcpl=fcpl))
        self.cases = self.group(self.f, "cases")
        self.names = []
        self.worst = (0.0, "")
        # elements where a 1% error would fail the tolerance, and all
        self.sensitive = 0
        self.elements = 0

    @staticmethod
    def group(parent, name):
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))

    def case(self, name, op, fn, inputs, attrs=None, labels=None, dy_fn=randn):
        """Runs fn on `inputs` (float32 arrays) in float64 and in float32,
        stores the float64 results and checks the float32 ones pass."""
        assert name not in self.names, name
        rng = case_rng(name + "/dy")
        dy = None
        results = {}
        for dtype in (torch.float64, torch.float32):
            xs = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in inputs]
            y = fn(*xs)
            extra = {}
            if isinstance(y, tuple):
                y, extra = y
            if dy is None:
                # drawn once, from the float64 pass, and reused by float32
                dy = dy_fn(rng, *y.shape)
            y.backward(torch.tensor(dy, dtype=dtype))
            results[dtype] = (y.detach().numpy(), {k: v.detach().numpy() for k, v in extra.items()},
                              [x.grad.numpy() for x in xs])
        out, extra, grads = results[torch.float64]
        out32, extra32, grads32 = results[torch.float32]

        pairs = [("out", out32, out)] + [(k, extra32[k], extra[k]) for k in extra] + \
                [("grad_in%d" % i, g32, g) for i, (g32, g) in enumerate(zip(grads32, grads))]
        for what, o, r in pairs:
            ratio = tolerance_ratio(o, r)
            if ratio > SELF_CHECK_MARGIN:
                raise SystemExit("%s: %s: torch float32 uses %.3g of the tolerance (> %g)"
                                 % (name, what, ratio, SELF_CHECK_MARGIN))
            if ratio > self.worst[0]:
                self.worst = (ratio, "%s %s" % (name, what))
            rr = np.abs(np.asarray(r, dtype=np.float64)).ravel()
            self.sensitive += int(np.sum(0.01 * rr > RTOL * rr + ATOL * rr.max()))
            self.elements += int(np.count_nonzero(rr))  # 1% of 0 is 0

        g = self.group(self.cases, name)
        string_attr(g, "op", op)
        for k, v in (attrs or {}).items():
            if isinstance(v, (list, tuple)):
                g.attrs.create(k, np.asarray(v, dtype=np.int64))
            elif isinstance(v, float):
                g.attrs.create(k, np.float64(v))
            else:
                g.attrs.create(k, np.int32(v))
        for i, a in enumerate(inputs):
            assert a.dtype == np.float32
            dataset(g, "in%d" % i, a)
        if labels is not None:
            dataset(g, "labels", np.asarray(labels, dtype=np.int32))
        dataset(g, "dy", f32(dy))
        dataset(g, "out", out.astype(np.float64))
        for k, v in extra.items():
            dataset(g, k, v.astype(np.float64))
        for i, gr in enumerate(grads):
            dataset(g, "grad_in%d" % i, gr.astype(np.float64))
        self.names.append(name)

    def close(self):
        string_attr(self.f, "format", "wengert-torch-ref/1")
        string_attr(self.f, "torch_version", torch.__version__)
        self.f.attrs.create("n_cases", np.int32(len(self.names)))
        self.f.attrs.create("rtol", np.float64(RTOL))
        self.f.attrs.create("atol", np.float64(ATOL))
        self.f.close()


def matmul_cases(w):
    mm = {
        "matmul": lambda a, b: a @ b,
        "matmul_nt": lambda a, b: a @ b.T,
        "matmul_tn": lambda a, b: a.T @ b,
    }

    def stored(op, m, k, n):
        # operand shapes as the C API takes them
        a = (k, m) if op == "matmul_tn" else (m, k)
        b = (n, k) if op == "matmul_nt" else (k, n)
        return a, b

    for op in mm:
        # a linear layer's shape for the form a linear layer uses
        extra = ((8, 16, 10),) if op == "matmul_nt" else ()
        for m, k, n in ((2, 3, 4), (5, 7, 3), (1, 6, 1)) + extra:
            name = "%s_%dx%dx%d" % (op, m, k, n)
            rng = case_rng(name)
            sa, sb = stored(op, m, k, n)
            w.case(name, op, mm[op], [randn(rng, *sa), randn(rng, *sb)])
    # Above 2^21 multiply-adds with two extents above the 256 tile edge, so
    # the forward product and both gradient products (the A Bᵀ form for dA,
    # the Aᵀ B form for dB) each take the tiled GEMM, with a ragged last
    # tile. Values in {-1, 0, 1}, B and dy mostly 0: the results are small
    # integers, exact in float32 and cheap to store.
    m, k, n = 260, 32, 260
    name = "matmul_tiled_%dx%dx%d" % (m, k, n)
    rng = case_rng(name)
    w.case(name, "matmul", mm["matmul"],
           [grid(rng, m, k, step=1, lim=1, density=0.5), grid(rng, k, n, step=1, lim=1, density=0.1)],
           dy_fn=lambda r, *s: grid(r, *s, step=1, lim=1, density=0.1))


def elementwise_cases(w):
    fns = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}
    shapes = [
        ("same", (3, 4), (3, 4)),
        ("row_bias", (4, 5), (5,)),
        ("chan_bias", (2, 3, 4, 5), (3, 1, 1)),
        ("first_bcast", (5,), (4, 5)),
        ("both_bcast", (4, 1), (1, 6)),
        ("rank_mix", (2, 1, 4, 1), (3, 1, 5)),
        ("one", (1,), (3, 4)),
    ]
    for op, fn in fns.items():
        # add takes every pattern; sub and mul share its broadcasting code
        for tag, sa, sb in (shapes if op == "add" else shapes[:5]):
            name = "%s_%s" % (op, tag)
            rng = case_rng(name)
            w.case(name, op, fn, [randn(rng, *sa), randn(rng, *sb)])


def reduction_cases(w):
    # shifted so the total is far from 0: a scalar's tolerance is relative
    for op, fn in (("sum", torch.sum), ("mean", torch.mean)):
        for shape in ((1,), (3, 4), (2, 3, 4, 5)) + (((1000,),) if op == "sum" else ()):
            name = "%s_%s" % (op, "x".join(map(str, shape)))
            rng = case_rng(name)
            w.case(name, op, fn, [randn(rng, *shape, shift=0.5)])


def activation_cases(w):
    for op, fn in (("sigmoid", torch.sigmoid), ("tanh", torch.tanh)):
        for tag, scale in (("3x4", 1.0), ("2x3x4x5", 2.0)):
            name = "%s_%s" % (op, tag)
            rng = case_rng(name)
            shape = tuple(int(s) for s in tag.split("x"))
            w.case(name, op, fn, [randn(rng, *shape, scale=scale)])
        # far into saturation, both signs
        name = "%s_wide" % op
        rng = case_rng(name)
        w.case(name, op, fn, [f32(rng.uniform(-15, 15, size=(4, 8)))])
    for tag in ("3x4", "2x3x4x5"):
        name = "relu_%s" % tag
        rng = case_rng(name)
        shape = tuple(int(s) for s in tag.split("x"))
        w.case(name, "relu", torch.relu, [away_from_zero(rng, *shape)])


def conv_cases(w):
    def conv(sh, sw, pt, pb, pl, pr):
        def fn(x, wt, b=None):
            # asymmetric padding: pad first, then convolve without padding
            xp = F.pad(x, (pl, pr, pt, pb))
            return F.conv2d(xp, wt, b, stride=(sh, sw))
        return fn

    # name, x shape, w shape, bias?, stride (h, w), padding (top, bottom, left, right)
    specs = [
        ("conv_basic", (1, 1, 5, 5), (1, 1, 3, 3), True, (1, 1), (0, 0, 0, 0)),
        ("conv_s1_p1", (2, 3, 6, 6), (4, 3, 3, 3), True, (1, 1), (1, 1, 1, 1)),
        ("conv_s2_p1", (2, 3, 7, 7), (4, 3, 3, 3), True, (2, 2), (1, 1, 1, 1)),
        ("conv_s2_p2", (1, 2, 9, 8), (3, 2, 3, 3), True, (2, 2), (2, 2, 2, 2)),
        ("conv_nonsquare", (2, 3, 7, 6), (4, 3, 3, 2), True, (1, 1), (0, 0, 0, 0)),
        ("conv_nonsquare_s21_p1", (2, 3, 7, 6), (4, 3, 3, 2), True, (2, 1), (1, 1, 1, 1)),
        ("conv_nobias", (2, 2, 5, 5), (3, 2, 3, 3), False, (1, 1), (1, 1, 1, 1)),
        ("conv_asym_pad", (2, 3, 6, 5), (2, 3, 3, 3), True, (1, 2), (1, 2, 0, 1)),
        ("conv_1x1", (2, 4, 3, 3), (5, 4, 1, 1), True, (1, 1), (0, 0, 0, 0)),
        # stride leaves rows and columns no window reaches: their grad is 0
        ("conv_s3_floor", (1, 1, 8, 8), (2, 1, 3, 3), True, (3, 3), (0, 0, 0, 0)),
        ("conv_lenet", (2, 1, 28, 28), (6, 1, 5, 5), True, (1, 1), (2, 2, 2, 2)),
    ]
    for name, xs, wsh, bias, (sh, sw), (pt, pb, pl, pr) in specs:
        rng = case_rng(name)
        quant = name == "conv_lenet"
        if quant:
            # mostly background, as a digit image, and a sparse dy, as
            # behind a ReLU and max pooling
            ins = [grid(rng, *xs, step=0.125, lim=8, density=0.3),
                   grid(rng, *wsh, step=1 / 16, lim=8)]
            if bias:
                ins.append(grid(rng, wsh[0]))
        else:
            ins = [randn(rng, *xs), randn(rng, *wsh, scale=0.5)]
            if bias:
                ins.append(randn(rng, wsh[0]))
        attrs = dict(stride_h=sh, stride_w=sw, pad_top=pt, pad_bottom=pb, pad_left=pl,
                     pad_right=pr)
        w.case(name, "conv2d", conv(sh, sw, pt, pb, pl, pr), ins, attrs=attrs,
               dy_fn=(lambda r, *s: grid(r, *s, step=0.5, lim=2, density=0.3)) if quant else randn)


def pool_cases(w):
    # name, x shape, kh, kw, stride_h, stride_w
    specs = [
        ("pool_k2s2", (2, 3, 6, 6), 2, 2, 2, 2),
        ("pool_k2s2_floor", (1, 2, 7, 5), 2, 2, 2, 2),
        ("pool_k3s2", (2, 2, 7, 7), 3, 3, 2, 2),
        ("pool_k3s1", (1, 2, 5, 6), 3, 3, 1, 1),
        ("pool_k2x3_s2x3", (2, 2, 6, 9), 2, 3, 2, 3),
        ("pool_k3x2_s1x2", (1, 3, 6, 7), 3, 2, 1, 2),
    ]
    for name, xs, kh, kw, sh, sw in specs:
        rng = case_rng(name)
        fn = (lambda kh, kw, sh, sw: lambda x: F.max_pool2d(x, (kh, kw), (sh, sw)))(kh, kw, sh, sw)
        w.case(name, "maxpool2d", fn, [distinct(rng, *xs)],
               attrs=dict(kh=kh, kw=kw, stride_h=sh, stride_w=sw))


def ce_cases(w):
    def ce(labels):
        lab = torch.tensor(labels, dtype=torch.int64)

        def fn(logits):
            return F.cross_entropy(logits, lab), {"probs": torch.softmax(logits, dim=1)}
        return fn

    for name, n, c, scale in (("ce_4x5", 4, 5, 1.0), ("ce_16x10", 16, 10, 2.0)):
        rng = case_rng(name)
        logits = randn(rng, n, c, scale=scale)
        labels = rng.randint(0, c, size=n).astype(np.int32)
        w.case(name, "softmax_cross_entropy", ce(labels), [logits], labels=labels)

    # Logits of ±50: exp overflows float32 without the max shift, and the
    # last row's true class is 100 below the best, so log p is -100.
    name = "ce_large"
    logits = f32([[50, -50, 10, 0], [-50, -50, -49, 50], [50, 49.5, -50, 0], [50, 0, 0, -50]])
    labels = np.array([0, 3, 1, 3], dtype=np.int32)
    w.case(name, "softmax_cross_entropy", ce(labels), [logits], labels=labels)

    # one class: loss and gradient are exactly 0
    name = "ce_one_class"
    rng = case_rng(name)
    w.case(name, "softmax_cross_entropy", ce(np.zeros(3, np.int32)), [randn(rng, 3, 1)],
           labels=np.zeros(3, np.int32))


def mse_cases(w):
    for shape in ((7,), (3, 4), (2, 3, 2, 2)):
        name = "mse_%s" % "x".join(map(str, shape))
        rng = case_rng(name)
        w.case(name, "mse", F.mse_loss, [randn(rng, *shape), randn(rng, *shape)])


def reshape_cases(w):
    for name, xs, target in (("reshape_4_m1", (2, 3, 4), (4, -1)),
                             ("reshape_m1_2_3", (6, 4), (-1, 2, 3)),
                             ("reshape_flat_m1", (2, 3, 4), (-1,))):
        rng = case_rng(name)
        fn = (lambda t: lambda x: x.reshape(t))(target)
        w.case(name, "reshape", fn, [randn(rng, *xs)], attrs={"shape": list(target)})
    for name, xs in (("flatten_2x3x4x5", (2, 3, 4, 5)), ("flatten_3x2x2", (3, 2, 2))):
        rng = case_rng(name)
        w.case(name, "flatten", lambda x: torch.flatten(x, 1), [randn(rng, *xs)])


class Xoshiro:
    """wengert's generator (autograd/rng.c): xoshiro256** seeded through
    splitmix64, so a reference can use the same dropout mask as the C side."""
    M = (1 << 64) - 1

    def __init__(self, seed):
        x = seed & self.M
        self.s = []
        for _ in range(4):
            x = (x + 0x9e3779b97f4a7c15) & self.M
            z = x
            z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & self.M
            z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & self.M
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & Xoshiro.M

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & self.M, 7) * 9) & self.M
        t = (s[1] << 17) & self.M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def study_op_cases(w):
    """leaky_relu (PyTorch's semantics) and dropout (the mask wengert draws
    from a seed: element i is dropped when the i-th uniform draw is < p)."""
    rng = case_rng("leaky_relu")
    for name, shape, slope in [("leaky_relu_0.01", (4, 9), 0.01), ("leaky_relu_0.2", (2, 3, 5), 0.2),
                               ("leaky_relu_neg", (3, 4), -0.5)]:
        w.case(name, "leaky_relu", lambda x, s=slope: F.leaky_relu(x, s),
               [away_from_zero(rng, *shape)], attrs={"slope": slope})
    for name, shape, p, seed in [("dropout_0.5", (6, 7), 0.5, 11), ("dropout_0.2", (2, 3, 4, 4), 0.2, 12)]:
        gen = Xoshiro(seed)
        n = int(np.prod(shape))
        keep = np.array([0.0 if gen.uniform() < p else 1.0 / (1.0 - p) for _ in range(n)])
        mask = keep.reshape(shape)
        w.case(name, "dropout", lambda x, m=mask: x * torch.tensor(m, dtype=x.dtype),
               [randn(case_rng(name), *shape)], attrs={"p": p, "seed": seed})


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data",
                                                               "torch_ref.h5")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    w = Writer(path)
    matmul_cases(w)
    elementwise_cases(w)
    reduction_cases(w)
    activation_cases(w)
    conv_cases(w)
    pool_cases(w)
    ce_cases(w)
    mse_cases(w)
    reshape_cases(w)
    study_op_cases(w)
    n = len(w.names)
    worst = w.worst
    w.close()
    size = os.path.getsize(path)
    print("%s: %d cases, %d bytes" % (os.path.normpath(path), n, size))
    print("torch float32 uses at most %.3g of the tolerance (%s); a 1%% error fails in %.2f%% "
          "of the %d nonzero reference elements" % (worst[0], worst[1], 100.0 * w.sensitive / w.elements,
                                            w.elements))
    if size > MAX_FILE_BYTES:
        raise SystemExit("%s is larger than %d bytes" % (path, MAX_FILE_BYTES))


if __name__ == "__main__":
    main()
