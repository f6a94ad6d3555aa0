#!/usr/bin/python3
"""The PyTorch round trip, both ways (run by `make check-torch`).

1. A LeNet-5 trained briefly in PyTorch, converted by tools/torch2h5.py and
   evaluated by examples/evaluate gives PyTorch's logits (max |difference|
   <= 1e-5 of the largest |logit|) and PyTorch's accuracy to 4 digits.
2. A LeNet-5 trained by examples/train_lenet, converted by tools/h52torch.py
   and run in PyTorch gives wengert's logits, within the same bound.

    tools/check_torch.py BUILDDIR      (BUILDDIR holds examples/)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_models import FashionMNIST, LeNet5  # noqa: E402

BOUND = 1e-5


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def torch_logits(model, images):
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
        return torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)]).numpy()


def compare(what, ours, theirs, labels):
    scale = np.abs(theirs).max()
    diff = np.abs(ours - theirs).max()
    acc_ours = (ours.argmax(1) == labels).mean()
    acc_theirs = (theirs.argmax(1) == labels).mean()
    ok = diff <= BOUND * scale and f"{acc_ours:.4f}" == f"{acc_theirs:.4f}"
    print(f"{'PASS' if ok else 'FAIL'}: {what}: max |logit difference| {diff:.3g} "
          f"({diff / scale:.2g} of the largest logit {scale:.3g}; bound {BOUND}); "
          f"accuracy wengert {acc_ours:.4f}, PyTorch {acc_theirs:.4f}")
    return ok


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "."
    evaluate = os.path.join(build, "examples", "evaluate")
    train = os.path.join(build, "examples", "train_lenet")
    data = FashionMNIST.load()
    test_x, test_y = data.test_images, data.test_labels
    tmp = tempfile.mkdtemp(prefix="wg_torch_")
    ok = True

    # 1. PyTorch -> wengert
    torch.manual_seed(1)
    torch.set_num_threads(1)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = data.train_images, data.train_labels
    for i in range(0, 12800, 64):
        xb = torch.from_numpy(x[i:i + 64].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
        loss = F.cross_entropy(model(xb), torch.from_numpy(y[i:i + 64].astype(np.int64)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    pt = os.path.join(tmp, "torch_lenet.pt")
    h5 = os.path.join(tmp, "torch_lenet.h5")
    torch.save(model.state_dict(), pt)
    run([sys.executable, os.path.join(HERE, "torch2h5.py"), pt, h5, "--arch", "lenet5"])
    csv = os.path.join(tmp, "logits.csv")
    out = run([evaluate, h5, "--logits", csv])
    ours = np.loadtxt(csv, delimiter=",")
    ok &= compare("PyTorch-trained LeNet-5 evaluated by wengert", ours,
                  torch_logits(model, test_x), test_y)
    printed = [l for l in out.splitlines() if l.startswith("accuracy: ")]
    ok &= bool(printed) and printed[-1] == f"accuracy: {(ours.argmax(1) == test_y).mean():.4f}"

    # 2. wengert -> PyTorch
    out_dir = os.path.join(tmp, "wg")
    run([train, "--epochs", "1", "--max-steps", "200", "--out", out_dir, "--threads", "1"])
    ckpt = os.path.join(out_dir, "checkpoint.h5")
    pt2 = os.path.join(tmp, "wg_lenet.pt")
    run([sys.executable, os.path.join(HERE, "h52torch.py"), ckpt, pt2])
    model2 = LeNet5()
    model2.load_state_dict(torch.load(pt2))
    csv2 = os.path.join(tmp, "logits2.csv")
    run([evaluate, ckpt, "--logits", csv2])
    ok &= compare("wengert-trained LeNet-5 run in PyTorch", np.loadtxt(csv2, delimiter=","),
                  torch_logits(model2, test_x), test_y)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
