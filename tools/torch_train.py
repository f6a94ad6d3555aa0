#!/usr/bin/python3
"""Train one PyTorch twin of a wengert example on Fashion-MNIST.

The reference side of wengert's training comparisons: it trains the model
of tools/torch_models.py the way the C examples (examples/trainer.c) do and
prints the same summary lines, so a C run and a PyTorch run of the same
configuration can be set side by side.

Run with Debian's interpreter (python3-torch, python3-numpy), e.g.

    /usr/bin/python3 tools/torch_train.py --model lenet5 --epochs 10 \\
        --batch 64 --optimizer sgd --lr 0.01 --momentum 0.9 \\
        --schedule cosine --seed 1 --threads 1

and see --help for every option. What it does, as the C trainer does:

* holds out --val training images (the last ones after a shuffle seeded by
  --seed) for validation and trains on the rest;
* feeds float32 pixel / 255, converted from uint8 one batch at a time (no
  mean/std normalisation);
* reshuffles the training images every epoch (seeded), keeps the last,
  smaller batch of an epoch;
* loss: mean softmax cross-entropy for classifiers; for the autoencoder the
  mean squared error over all elements between output and input;
* sets the learning rate of epoch e from the schedule (none; cosine:
  CosineAnnealingLR with T_max = epochs; step: x0.1 every 5 epochs),
  stepped once per epoch;
* after each epoch evaluates on the validation images (no grad), prints a
  progress line on stderr and, with --csv, appends a row
  epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds (for the
  autoencoder the accuracy columns hold the PSNR in dB, and the header
  says train_psnr_db, val_psnr_db);
* finally evaluates the 10,000 test images and prints, on stdout,
  "test accuracy: 0.xxxx" (classifiers) or "test psnr: X.XX dB"
  (autoencoder; the mean over images of 10 log10(1 / MSE_image), an image
  capped at 120 dB), then "train images/s: N": images trained on divided
  by the wall time of the training steps, batch assembly included and
  evaluation excluded.

--threads sets OMP/MKL/OpenBLAS thread counts in the environment before
torch is imported, then torch.set_num_threads, so the run really uses that
many cores.
"""

import argparse
import csv
import math
import os
import sys
import time

# Learning rates used when --lr is not given (SGD; Adam uses ADAM_LR).
DEFAULT_LR = {"lenet5": 0.01, "mlp": 0.5, "autoencoder": 5.0, "softmax": 0.1}
ADAM_LR = 0.001

# The C trainer evaluates in batches of this many images.
EVAL_BATCH = 1000

# A perfect reconstruction would be infinitely many dB: floor the MSE.
PSNR_MSE_FLOOR = 1e-12

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Train a PyTorch twin of a wengert example model on Fashion-MNIST "
                    "and print the same summary lines as the C examples.")
    p.add_argument("--model", choices=("lenet5", "mlp", "autoencoder", "softmax"),
                   default="lenet5", help="model to train (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default: %(default)s)")
    p.add_argument("--batch", type=int, default=64, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: SGD %s; Adam %g)"
                        % (", ".join("%s %g" % kv for kv in DEFAULT_LR.items()), ADAM_LR))
    p.add_argument("--momentum", type=float, default=0.0,
                   help="SGD momentum (default: %(default)s)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="L2 weight decay added to the gradient (default: %(default)s)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="optimizer (default: %(default)s)")
    p.add_argument("--schedule", choices=("none", "cosine", "step"), default="none",
                   help="per-epoch learning-rate schedule: cosine (T_max = epochs), "
                        "step (x0.1 every 5 epochs) (default: %(default)s)")
    p.add_argument("--activation", choices=("sigmoid", "tanh", "relu"), default="sigmoid",
                   help="hidden activation of the MLP (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=128,
                   help="hidden units of the MLP (default: %(default)s)")
    p.add_argument("--val", type=int, default=5000,
                   help="training images held out for validation (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the initialisation, split and shuffles (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads for PyTorch (default: 0 = PyTorch's choice)")
    p.add_argument("--data", default=None,
                   help="MNIST-format directory (default: Debian's Fashion-MNIST)")
    p.add_argument("--save", metavar="FILE", help="save the trained state_dict here")
    p.add_argument("--csv", metavar="FILE", help="write per-epoch metrics here")
    args = p.parse_args(argv)
    if args.epochs < 0 or args.batch < 1 or args.val < 0 or args.threads < 0:
        p.error("--epochs, --val and --threads must be >= 0 and --batch >= 1")
    if args.nesterov and (args.optimizer != "sgd" or args.momentum <= 0):
        p.error("--nesterov needs --optimizer sgd and --momentum > 0")
    if args.lr is None:
        args.lr = ADAM_LR if args.optimizer == "adam" else DEFAULT_LR[args.model]
    return args


# Parse (and handle --help) before importing torch, so the thread variables
# can be set first; torch reads them when it loads.
ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads > 0:
    for _name in THREAD_ENV:
        os.environ[_name] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models as tm  # noqa: E402


def batch_loss(model, reconstruct, x, y):
    """(loss, output) of one batch: mean cross-entropy against the labels,
    or for a reconstruction the MSE between output and flattened input."""
    out = model(x)
    if reconstruct:
        return F.mse_loss(out, x.reshape(out.shape)), out
    return F.cross_entropy(out, y), out


def psnr_sum(out, x):
    """Sum over the batch of each image's 10 log10(1 / MSE), in dB."""
    mse = (out.detach().double() - x.reshape(out.shape).double()).pow(2).mean(dim=1)
    return float((-10.0 * torch.log10(mse.clamp_min(PSNR_MSE_FLOOR))).sum())


def evaluate(model, reconstruct, images, labels):
    """(mean loss, accuracy or mean PSNR) over a data set, without gradients."""
    model.eval()
    n = len(images)
    loss = score = 0.0
    with torch.no_grad():
        for s in range(0, n, EVAL_BATCH):
            x = tm.to_float(images[s:s + EVAL_BATCH])
            y = torch.from_numpy(labels[s:s + EVAL_BATCH])
            l, out = batch_loss(model, reconstruct, x, y)
            loss += float(l) * len(x)
            if reconstruct:
                score += psnr_sum(out, x)
            else:
                score += int((out.argmax(dim=1) == y).sum())
    model.train()
    if n == 0:
        return math.nan, math.nan
    return loss / n, score / n


def make_optimizer(args, params):
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum,
                           nesterov=args.nesterov, weight_decay=args.weight_decay)


def make_scheduler(args, opt):
    if args.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(args.epochs, 1))
    if args.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.1)
    return None


def main(args):
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    reconstruct = args.model in tm.RECONSTRUCTION_MODELS

    try:
        data = tm.FashionMNIST.load(args.data or tm.DEFAULT_DATA_DIR)
    except (OSError, ValueError) as e:
        print("torch_train: error: %s\n(install Debian's dataset-fashion-mnist, or point "
              "--data at an MNIST-format directory)" % e, file=sys.stderr)
        return 1
    n_all = len(data.train_images)
    n_val = args.val if args.val < n_all else n_all // 10
    train_idx, val_idx = tm.split_train_val(n_all, n_val, args.seed)
    train_images = data.train_images[train_idx]
    train_labels = data.train_labels[train_idx]
    val_images = data.train_images[val_idx]
    val_labels = data.train_labels[val_idx]

    hyper = {"activation": args.activation, "hidden": args.hidden} if args.model == "mlp" else {}
    model = tm.build(args.model, **hyper)
    opt = make_optimizer(args, model.parameters())
    sched = make_scheduler(args, opt)
    n_params = sum(p.numel() for p in model.parameters())
    print("%s (PyTorch %s, %d threads): %d parameters; %d training, %d validation, "
          "%d test images" % (args.model, torch.__version__, torch.get_num_threads(),
                              n_params, len(train_images), len(val_images),
                              len(data.test_images)))

    csv_file = writer = None
    if args.csv:
        csv_file = open(args.csv, "w", newline="")
        writer = csv.writer(csv_file)
        writer.writerow(["epoch", "train_loss",
                         "train_psnr_db" if reconstruct else "train_acc",
                         "val_loss", "val_psnr_db" if reconstruct else "val_acc",
                         "lr", "seconds"])

    # Its own generator, so the order of the batches does not depend on how
    # many random numbers the initialisation drew.
    shuffle_rng = np.random.RandomState(args.seed + 1)
    n_train = len(train_images)
    train_seconds = 0.0
    train_seen = 0
    model.train()
    for epoch in range(args.epochs):
        lr = opt.param_groups[0]["lr"]
        t0 = time.perf_counter()
        order = shuffle_rng.permutation(n_train)
        loss_sum = score_sum = 0.0
        seen = 0
        for s in range(0, n_train, args.batch):
            idx = order[s:s + args.batch]
            x = tm.to_float(train_images[idx])
            y = torch.from_numpy(train_labels[idx])
            loss, out = batch_loss(model, reconstruct, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = len(idx)
            loss_sum += float(loss) * n
            if reconstruct:
                score_sum += psnr_sum(out, x)
            else:
                score_sum += int((out.detach().argmax(dim=1) == y).sum())
            seen += n
        dt = time.perf_counter() - t0
        train_seconds += dt
        train_seen += seen
        if sched is not None:
            sched.step()

        train_loss = loss_sum / seen if seen else math.nan
        train_score = score_sum / seen if seen else math.nan
        val_loss, val_score = evaluate(model, reconstruct, val_images, val_labels)
        if reconstruct:
            print("epoch %d/%d  lr %.4g  train loss %.5f psnr %.2f dB  val loss %.5f psnr %.2f dB"
                  "  %.1fs (%.0f images/s)" % (epoch + 1, args.epochs, lr, train_loss,
                                               train_score, val_loss, val_score, dt, seen / dt),
                  file=sys.stderr, flush=True)
        else:
            print("epoch %d/%d  lr %.4g  train loss %.4f acc %.4f  val loss %.4f acc %.4f"
                  "  %.1fs (%.0f images/s)" % (epoch + 1, args.epochs, lr, train_loss,
                                               train_score, val_loss, val_score, dt, seen / dt),
                  file=sys.stderr, flush=True)
        if writer:
            writer.writerow([epoch + 1, "%.6f" % train_loss, "%.6f" % train_score,
                             "%.6f" % val_loss, "%.6f" % val_score, "%.6g" % lr, "%.3f" % dt])
            csv_file.flush()
    if csv_file:
        csv_file.close()

    if args.save:
        torch.save(model.state_dict(), args.save)
        print("wrote %s" % args.save)

    _, test_score = evaluate(model, reconstruct, data.test_images, data.test_labels)
    if reconstruct:
        print("test psnr: %.2f dB" % test_score)
    else:
        print("test accuracy: %.4f" % test_score)
    print("train images/s: %.0f" % (train_seen / train_seconds if train_seconds > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
