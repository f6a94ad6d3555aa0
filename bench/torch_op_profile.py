#!/usr/bin/python3
"""PyTorch's time for each op of one LeNet-5 training step, the counterpart
of bench/op_profile.c, and a merged table of both.

    /usr/bin/python3 bench/torch_op_profile.py --threads N [--batch 64] [--seconds T]
        [--merge OP_PROFILE_OUTPUT]

Each op runs alone on real activations of tools/torch_models.LeNet5 (a real
Fashion-MNIST batch): forward = the op; backward = a single-op graph whose
output is seeded with its real gradient (y.backward(dy)), leaf gradients
reset to None between repetitions, as zero_grad(set_to_none=True) does.
The linear layers are timed as two ops, x @ W.T then + b, to line up with
wengert's matmul_nt and add (nn.Linear itself fuses them into one addmm).
Times are medians over at least --seconds per line.

With --merge, reads the table op_profile printed and prints one table with
both libraries' columns.
"""

import argparse
import os
import sys
import time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--seconds", type=float, default=0.3)
p.add_argument("--merge", metavar="FILE", help="op_profile's output to merge with")
ARGS = p.parse_args()
for _k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_k] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch_models as tm  # noqa: E402


def med_time(fn, budget, setup=None):
    """Median seconds of fn() (setup() untimed before each; its result is
    passed to fn)."""
    for _ in range(3):
        fn(setup() if setup else None)
    times = []
    start = time.perf_counter()
    while len(times) < 20 or time.perf_counter() - start < budget:
        arg = setup() if setup else None
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    data = tm.FashionMNIST.load()
    rng = np.random.RandomState(7)
    idx = rng.randint(0, len(data.train_images), a.batch)
    x0 = tm.to_float(data.train_images[idx])
    y = torch.from_numpy(data.train_labels[idx])
    model = tm.LeNet5(10)
    c1m, c2m, f1, f2, f3 = model.conv1, model.conv2, model.fc1, model.fc2, model.fc3

    # the real forward, op by op, keeping every activation and its gradient
    acts = []

    def keep(t):
        t.retain_grad()
        acts.append(t)
        return t

    c1 = keep(F.conv2d(x0, c1m.weight, c1m.bias, padding=2))
    t1 = keep(torch.tanh(c1))
    p1 = keep(F.max_pool2d(t1, 2))
    c2 = keep(F.conv2d(p1, c2m.weight, c2m.bias))
    t2 = keep(torch.tanh(c2))
    p2 = keep(F.max_pool2d(t2, 2))
    fl = keep(torch.flatten(p2, 1))
    m1 = keep(fl @ f1.weight.t())
    a1 = keep(m1 + f1.bias)
    h1 = keep(torch.tanh(a1))
    m2 = keep(h1 @ f2.weight.t())
    a2 = keep(m2 + f2.bias)
    h2 = keep(torch.tanh(a2))
    m3 = keep(h2 @ f3.weight.t())
    a3 = keep(m3 + f3.bias)
    loss = F.cross_entropy(a3, y)
    loss.backward()
    with torch.no_grad():
        ref = model(x0)
    assert torch.allclose(ref, a3, atol=1e-5), "the hand-written forward is not LeNet5's"

    def leaf(t, grad=True):
        return t.detach().clone().requires_grad_(grad)

    W = {n: leaf(p) for n, p in model.named_parameters()}
    ops = [
        ("conv1 conv2d 1->6 5x5 p2",
         lambda i: F.conv2d(i[0], i[1], i[2], padding=2),
         [leaf(x0, False), W["conv1.weight"], W["conv1.bias"]], c1.grad),
        ("conv1 tanh", lambda i: torch.tanh(i[0]), [leaf(c1)], t1.grad),
        ("pool1 maxpool 2x2", lambda i: F.max_pool2d(i[0], 2), [leaf(t1)], p1.grad),
        ("conv2 conv2d 6->16 5x5", lambda i: F.conv2d(i[0], i[1], i[2]),
         [leaf(p1), W["conv2.weight"], W["conv2.bias"]], c2.grad),
        ("conv2 tanh", lambda i: torch.tanh(i[0]), [leaf(c2)], t2.grad),
        ("pool2 maxpool 2x2", lambda i: F.max_pool2d(i[0], 2), [leaf(t2)], p2.grad),
        ("flatten", lambda i: torch.flatten(i[0], 1), [leaf(p2)], fl.grad),
        ("fc1 matmul_nt 400->120", lambda i: i[0] @ i[1].t(), [leaf(fl), W["fc1.weight"]],
         m1.grad),
        ("fc1 bias add", lambda i: i[0] + i[1], [leaf(m1), W["fc1.bias"]], a1.grad),
        ("fc1 tanh", lambda i: torch.tanh(i[0]), [leaf(a1)], h1.grad),
        ("fc2 matmul_nt 120->84", lambda i: i[0] @ i[1].t(), [leaf(h1), W["fc2.weight"]],
         m2.grad),
        ("fc2 bias add", lambda i: i[0] + i[1], [leaf(m2), W["fc2.bias"]], a2.grad),
        ("fc2 tanh", lambda i: torch.tanh(i[0]), [leaf(a2)], h2.grad),
        ("fc3 matmul_nt 84->10", lambda i: i[0] @ i[1].t(), [leaf(h2), W["fc3.weight"]],
         m3.grad),
        ("fc3 bias add", lambda i: i[0] + i[1], [leaf(m3), W["fc3.bias"]], a3.grad),
        ("softmax_cross_entropy", lambda i: F.cross_entropy(i[0], y), [leaf(a3)], None),
    ]
    results = {}
    for name, fn, ins, dy in ops:
        tf = med_time(lambda _: fn(ins), a.seconds)

        def setup(fn=fn, ins=ins):
            for t in ins:
                t.grad = None
            return fn(ins)

        if dy is None:
            tb = med_time(lambda out: out.backward(), a.seconds, setup)
        else:
            tb = med_time(lambda out, dy=dy: out.backward(dy), a.seconds, setup)
        results[name] = (tf, tb)

    # the rest of a step, and the whole step (as bench/bench_torch.py)
    n = len(data.train_images)
    t_batch = med_time(lambda _: (tm.to_float(data.train_images[rng.randint(0, n, a.batch)]),
                                  torch.from_numpy(data.train_labels[:a.batch])), a.seconds)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for q in model.parameters():
        q.grad = torch.zeros_like(q)
    t_optim = med_time(lambda _: opt.step(), a.seconds)

    fwd, bwd, tot = [], [], []
    start = time.perf_counter()
    it = 0
    while len(tot) < 20 or time.perf_counter() - start < 3 * a.seconds:
        b = rng.randint(0, n, a.batch)
        t0 = time.perf_counter()
        xb = tm.to_float(data.train_images[b])
        l = F.cross_entropy(model(xb), torch.from_numpy(data.train_labels[b]))
        opt.zero_grad(set_to_none=True)
        t1 = time.perf_counter()
        l.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        it += 1
        if it > 5:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            tot.append(t3 - t0)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    t_step = med(tot)
    extra = {
        "batch assembly": (t_batch, None),
        "SGD momentum step": (None, t_optim),
        "measured whole step": (med(fwd), med(bwd)),
    }

    ms = lambda v: "" if v is None else "%.3f" % (1e3 * v)  # noqa: E731
    if not a.merge:
        print("PyTorch %s, LeNet-5 step, batch %d, %d thread(s)\n" % (
            torch.__version__, a.batch, a.threads))
        print("| op | forward ms | backward ms | share of step |\n| --- | ---: | ---: | ---: |")
        for name, (tf, tb) in list(results.items()) + list(extra.items()):
            share = ((tf or 0) + (tb or 0)) / t_step
            print("| %s | %s | %s | %.1f%% |" % (name, ms(tf), ms(tb), 100 * share))
        print("\nwhole step %.3f ms: %.0f images/s" % (1e3 * t_step, a.batch / t_step))
        return 0

    # merge with op_profile's table: same op names, wengert's columns first
    wrows = []
    with open(a.merge) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("| ") and len(cells) == 4 and not cells[0].startswith("---") \
                    and cells[0] != "op":
                wrows.append(cells)
    print("LeNet-5 training step, batch %d, %d thread(s): wengert (bench/op_profile) and "
          "PyTorch %s (bench/torch_op_profile.py), ms per op, medians\n"
          % (a.batch, a.threads, torch.__version__))
    print("| op | wengert fwd | wengert bwd | share of wengert step | PyTorch fwd | PyTorch bwd "
          "| share of PyTorch step | wengert ÷ PyTorch (fwd+bwd) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cells in wrows:
        name = cells[0]
        key = name.strip("*").strip()
        tv = results.get(name)
        if tv is None:
            for k, v in extra.items():
                if key.startswith(k) or (k == "SGD momentum step" and key.startswith("SGD")):
                    tv = v
        if tv is None:
            tf = tb = None
        else:
            tf, tb = tv
        wsum = sum(float(c) for c in cells[1:3] if c)
        tsum = (tf or 0) + (tb or 0)  # seconds
        tshare = "" if tv is None else "%.1f%%" % (100 * tsum / t_step)
        if key.startswith("measured whole step"):
            tshare = "100%% = %.3f ms" % (1e3 * t_step)
        ratio = "%.2f" % (wsum / (1e3 * tsum)) if tv is not None and tsum > 0 and wsum > 0 else ""
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, cells[1], cells[2], cells[3], ms(tf), ms(tb), tshare, ratio))
    print("\nPyTorch whole step %.3f ms: %.0f images/s (wg_input's copy has no PyTorch "
          "counterpart; PyTorch's nn.Linear fuses matmul and bias add into one addmm)"
          % (1e3 * t_step, a.batch / t_step))
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
