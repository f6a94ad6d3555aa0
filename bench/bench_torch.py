#!/usr/bin/python3
"""The PyTorch side of bench/run: one workload at one thread count.

    /usr/bin/python3 bench/bench_torch.py --workload W --threads N [--steps S] [--warmup K]

Prints one JSON line (images/s over the timed steps, peak RSS). The models
are tools/torch_models.py's twins of wengert's (plus the wide MLP, defined
here); a training step is tools/torch_train.py's: index the uint8 images,
tm.to_float (pixel / 255), forward, loss, zero_grad(set_to_none=True),
backward, SGD step. The batch indices come from a seeded permutation made
before timing, so every batch is full.

The thread variables (OMP/MKL/OpenBLAS) are set before torch is imported,
then torch.set_num_threads(N), so the process really uses N cores.
"""

import argparse
import json
import os
import resource
import sys
import time

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
WORKLOADS = ("mlp", "lenet", "autoencoder", "wide_mlp", "lenet_infer")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", choices=WORKLOADS, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    return p.parse_args()


ARGS = parse_args()
for _name in THREAD_ENV:
    os.environ[_name] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch_models as tm  # noqa: E402


class WideMLP(nn.Module):
    """784 -> 4096 -> 4096 -> 10 with relu (bench_wengert.c's wide_mlp)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, 10)

    def forward(self, x):
        x = x.reshape(-1, 784)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def build(workload):
    """(model, optimizer or None, batch, classify) as in bench_wengert.c."""
    if workload == "mlp":
        m = tm.MLP(784, 128, 10, "sigmoid")
        return m, torch.optim.SGD(m.parameters(), lr=0.1), 64, True
    if workload == "lenet":
        m = tm.LeNet5(10)
        return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9), 64, True
    if workload == "autoencoder":
        m = tm.Autoencoder(784, 32, 32, 32)
        return m, torch.optim.SGD(m.parameters(), lr=5.0, momentum=0.9), 64, False
    if workload == "wide_mlp":
        m = WideMLP()
        return m, torch.optim.SGD(m.parameters(), lr=0.01), 256, True
    if workload == "lenet_infer":
        return tm.LeNet5(10), None, 1000, True
    raise ValueError(workload)


def main(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t_start = time.perf_counter()
    # the training part only, as bench_wengert loads
    images = tm._read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"),
                          tm.IDX_IMAGES_MAGIC, 2)
    labels = tm._read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"),
                          tm.IDX_LABELS_MAGIC, 0).astype(np.int64)
    model, opt, batch, classify = build(a.workload)
    train = opt is not None
    n = len(images)
    total = (a.steps + a.warmup) * batch
    rng = np.random.RandomState(a.seed + 1)
    order = np.concatenate([rng.permutation(n) if train else np.arange(n)
                            for _ in range(total // n + 1)])[:total]

    loss_first = loss_last = float("nan")
    t0 = None
    if train:
        model.train()
        for s in range(a.warmup + a.steps):
            if s == a.warmup:
                t0 = time.perf_counter()
            idx = order[s * batch:(s + 1) * batch]
            x = tm.to_float(images[idx])
            out = model(x)
            if classify:
                loss = F.cross_entropy(out, torch.from_numpy(labels[idx]))
            else:
                loss = F.mse_loss(out, x.reshape(out.shape))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if s == 0:
                loss_first = float(loss)
        loss_last = float(loss)
    else:
        model.eval()
        with torch.no_grad():
            for s in range(a.warmup + a.steps):
                if s == a.warmup:
                    t0 = time.perf_counter()
                idx = order[s * batch:(s + 1) * batch]
                x = tm.to_float(images[idx])
                out = model(x)
                loss = F.cross_entropy(out, torch.from_numpy(labels[idx]))
                if s == 0:
                    loss_first = float(loss)
            loss_last = float(loss)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "side": "torch", "workload": a.workload, "threads": a.threads,
        "torch_threads": torch.get_num_threads(), "steps": a.steps, "warmup": a.warmup,
        "batch": batch, "seconds": round(dt, 6), "ips": round(a.steps * batch / dt, 3),
        "rss_mb": round(rss, 2), "loss_first": loss_first, "loss_last": loss_last,
        "torch_version": torch.__version__,
        "wall_total": round(time.perf_counter() - t_start, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
