#!/usr/bin/python3
"""Write tests/data/optim_ref.h5: torch.optim's trajectories on a fixed problem.

Run from anywhere with Debian's interpreter (python3-torch, python3-h5py,
python3-numpy):

    /usr/bin/python3 tools/make_optim_refs.py [output.h5]

tests/test_optim.c (built against the double library) reads the file,
replays every case with wengert's optimizers, schedules, gradient clipping
and freezing, and compares the parameters after each step.

The problem
-----------
A linear classifier with parameters W [3 x 4] and b [3] on a fixed batch
X [5 x 4]: logits = X Wᵀ + b, loss = softmax cross-entropy with `labels`
averaged over the batch (F.cross_entropy), or the mean squared error to
`target` [5 x 3] (F.mse_loss). Each of N_STEPS steps, in this order:

    lr[t]   = the optimizer's learning rate (scheduled cases: what the
              torch scheduler set after t scheduler.step() calls; the C test
              gets it from wg_schedule_lr(&s, base, t))
    loss[t] = the loss at the parameters before the step; backward
    grad_norm[t] = clip_grad_norm_(trainable params, clip_max_norm) if the
              case clips (the norm before clipping)
    optimizer.step(); scheduler.step()
    W[t], b[t] = the parameters after the step

Everything runs in float64 from float64 initial values (no float32 rounding
anywhere). The initial values come from a numpy RandomState seeded with the
CRC-32 of "optim", so every case starts from the same point; no object in
the file records a time, so running the script again writes the same bytes.

Freezing follows torch's convention: the frozen parameter has
requires_grad=False (it stays in the optimizer's parameter list; having no
.grad, torch.optim skips it and keeps no state for it). `unfreeze_at` >= 0
sets requires_grad=True again before step `unfreeze_at`.

Tolerance
---------
tests/test_optim.c passes step t of tensor T (W or b) when

    max_i |ours_i - ref_i| <= RTOL * max_i |ref_i|,   RTOL = 1e-6

and requires a frozen parameter to keep its initial values exactly.
Correct double code is near 1e-15. To show the cases can fail, this script
re-runs each case with every setting changed slightly (numbers by 1%, betas
by 10% of 1 - beta, integers by one, flags flipped; clip_small_grad also
clips without the 1e-6 torch adds to the norm) and refuses to write the
file unless each such change moves some parameter by at least
MIN_SENSITIVITY times the tolerance. (eps and the loss are not varied.)

HDF5 layout
-----------
/                  attributes: format = "wengert-optim-ref/1" (string),
                   torch_version (string), n_cases, n_steps (int32),
                   rtol (float64, as above; informative)
/problem/          W0, b0, X, labels, target as below, once; each case's
                   datasets of these names are hard links to them
/cases/<name>/     one group per case. Attributes:
    optimizer      string: sgd, adam, adamw
    loss           string: cross_entropy, mse
    lr             float64, the base learning rate
    momentum, dampening, weight_decay          float64 (SGD; weight_decay
                   also Adam's L2 term and AdamW's decoupled decay)
    nesterov       int32 0/1
    beta1, beta2, eps                          float64 (Adam, AdamW)
    schedule       string: constant, step, cosine (wg_schedule's kind)
    step_size      int32, gamma float64        (step: StepLR)
    t_max          int32, min_lr float64       (cosine: CosineAnnealingLR
                                                T_max, eta_min)
    warmup         int32, warmup_start float64 (LinearLR total_iters,
                   start_factor, chained with the schedule; 0: none)
    clip_max_norm  float64, 0 for no clipping
    frozen         string, the name of the frozen parameter ("" for none):
                   "fc.weight" (W) or "fc.bias" (b)
    unfreeze_at    int32, the step before which it is unfrozen (-1: never)
  Datasets (float64 unless said otherwise):
    W0 [3, 4], b0 [3]           initial parameters
    X [5, 4]                    the input
    labels [5] int32            cross_entropy only
    target [5, 3]               mse only (clip_small_grad has its own, near
                                the initial predictions; the others link)
    lr [n_steps]                learning rate used by step t
    loss [n_steps]              loss before step t
    grad_norm [n_steps]         clipping cases only: norm before clipping
    W [n_steps, 3, 4], b [n_steps, 3]   parameters after step t
Strings are fixed-length UTF-8, null-padded (no terminator when the text
fills the length). Every dataset is compact (stored in its object header).
The file uses the HDF5 1.10 format.
"""

import copy
import os
import sys
import zlib

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from h5ref import dataset_properties, string_attr

N_STEPS = 12
RTOL = 1e-6
# every perturbed setting must move some parameter by this many tolerances
MIN_SENSITIVITY = 10.0
MAX_FILE_BYTES = 100 * 1024

torch.set_num_threads(1)

DEFAULTS = dict(optimizer="sgd", loss="cross_entropy", lr=0.1, momentum=0.0, dampening=0.0,
                weight_decay=0.0, nesterov=0, beta1=0.9, beta2=0.999, eps=1e-8,
                schedule="constant", step_size=0, gamma=1.0, t_max=0, min_lr=0.0, warmup=0,
                warmup_start=0.0, clip_max_norm=0.0, frozen="", unfreeze_at=-1)

# name -> settings different from DEFAULTS
CASES = {
    "sgd_plain": dict(lr=0.5),
    "sgd_plain_mse": dict(lr=0.1, loss="mse"),
    "sgd_momentum": dict(lr=0.1, momentum=0.9),
    "sgd_momentum_dampening": dict(lr=0.1, momentum=0.9, dampening=0.1),
    "sgd_nesterov": dict(lr=0.1, momentum=0.9, nesterov=1),
    "sgd_weight_decay": dict(lr=0.5, weight_decay=0.1),
    "sgd_momentum_weight_decay": dict(lr=0.1, momentum=0.9, weight_decay=0.05),
    # Adam's default lr (1e-3) moves the parameters by ~1e-2 in 12 steps,
    # too little for a 1e-6 relative check to see much; betas and eps are
    # the defaults
    "adam": dict(optimizer="adam", lr=0.05),
    "adam_weight_decay": dict(optimizer="adam", lr=0.05, weight_decay=0.1),
    "adamw": dict(optimizer="adamw", lr=0.05, weight_decay=0.01),
    "adam_mse": dict(optimizer="adam", lr=0.05, loss="mse"),
    "sched_step": dict(lr=0.1, momentum=0.9, schedule="step", step_size=4, gamma=0.5),
    "sched_cosine": dict(optimizer="adam", lr=0.05, schedule="cosine", t_max=10, min_lr=0.001),
    "sched_warmup": dict(lr=0.5, warmup=4, warmup_start=0.25),
    "sched_warmup_step": dict(lr=0.1, momentum=0.9, schedule="step", step_size=4, gamma=0.5,
                              warmup=4, warmup_start=0.25),
    # clip_max_norm is below the gradient norm at every step (checked below)
    "clip": dict(lr=0.5, clip_max_norm=0.1),
    "clip_momentum": dict(lr=0.1, momentum=0.9, clip_max_norm=0.1),
    # gradient norms of 1e-4..1e-3 (the target is 1e-4 from the initial
    # predictions), where the 1e-6 torch adds to the norm changes the step
    # by up to 1%; a huge lr makes the clipped steps count
    "clip_small_grad": dict(lr=100.0, loss="mse", clip_max_norm=1e-5),
    "freeze_bias_adam": dict(optimizer="adam", lr=0.05, frozen="fc.bias"),
    "freeze_weight_sgd": dict(lr=0.1, momentum=0.9, weight_decay=0.05, frozen="fc.weight"),
    # torch keeps a step count per parameter: b's first step is its step 1
    "unfreeze_bias_adam": dict(optimizer="adam", lr=0.05, frozen="fc.bias", unfreeze_at=4),
}

# cases that must notice clipping without torch's 1e-6 (the others cannot:
# next to norms near 1 it changes the step by 1e-6 relative)
CLIP_EPS_CASES = {"clip_small_grad"}
# cases trained towards target_near instead of target
NEAR_TARGET_CASES = {"clip_small_grad"}

INT_KEYS = {"nesterov", "step_size", "t_max", "warmup", "unfreeze_at"}
STR_KEYS = {"optimizer", "loss", "schedule", "frozen"}


def problem():
    rng = np.random.RandomState(zlib.crc32(b"optim"))
    W0 = rng.uniform(-0.5, 0.5, (3, 4))
    b0 = rng.uniform(-0.2, 0.2, 3)
    X = rng.standard_normal((5, 4))
    labels = np.array([0, 2, 1, 2, 0], dtype=np.int32)
    target = rng.standard_normal((5, 3)) * 0.5
    return W0, b0, X, labels, target


def near_target(W0, b0, X):
    """The initial predictions plus noise of 1e-4: small gradients."""
    rng = np.random.RandomState(zlib.crc32(b"optim/target_near"))
    return X @ W0.T + b0 + rng.standard_normal((X.shape[0], W0.shape[0])) * 1e-4


def clip_without_eps(params, max_norm):
    """clip_grad_norm_ without the 1e-6 added to the norm (a mutant)."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.norm(torch.stack([torch.norm(g) for g in grads]))
    coef = min(1.0, max_norm / norm.item())
    for g in grads:
        g.mul_(coef)
    return norm


def run(cfg, data, clip_fn=torch.nn.utils.clip_grad_norm_):
    """Runs one case in torch; returns a dict of per-step arrays."""
    W0, b0, X, labels, target = data
    dt = torch.float64
    W = torch.tensor(W0, dtype=dt, requires_grad=True)
    b = torch.tensor(b0, dtype=dt, requires_grad=True)
    by_name = {"fc.weight": W, "fc.bias": b}
    if cfg["frozen"]:
        by_name[cfg["frozen"]].requires_grad_(False)
    params = [W, b]
    kind = cfg["optimizer"]
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"],
                              dampening=cfg["dampening"], weight_decay=cfg["weight_decay"],
                              nesterov=bool(cfg["nesterov"]), foreach=False)
    else:
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        opt = cls(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
                  weight_decay=cfg["weight_decay"], foreach=False)
    scheds = []
    if cfg["warmup"] > 0:
        scheds.append(torch.optim.lr_scheduler.LinearLR(
            opt, start_factor=cfg["warmup_start"], end_factor=1.0, total_iters=cfg["warmup"]))
    if cfg["schedule"] == "step":
        scheds.append(torch.optim.lr_scheduler.StepLR(opt, step_size=cfg["step_size"],
                                                      gamma=cfg["gamma"]))
    elif cfg["schedule"] == "cosine":
        scheds.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["t_max"],
                                                                 eta_min=cfg["min_lr"]))
    else:
        assert cfg["schedule"] == "constant"
    sched = torch.optim.lr_scheduler.ChainedScheduler(scheds) if scheds else None

    Xt = torch.tensor(X, dtype=dt)
    out = {k: [] for k in ("lr", "loss", "grad_norm", "W", "b")}
    for t in range(N_STEPS):
        if t == cfg["unfreeze_at"]:
            by_name[cfg["frozen"]].requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        out["lr"].append(opt.param_groups[0]["lr"])
        logits = Xt @ W.T + b
        if cfg["loss"] == "cross_entropy":
            loss = F.cross_entropy(logits, torch.tensor(labels, dtype=torch.int64))
        else:
            loss = F.mse_loss(logits, torch.tensor(target, dtype=dt))
        loss.backward()
        out["loss"].append(loss.item())
        if cfg["clip_max_norm"] > 0:
            trainable = [p for p in params if p.requires_grad]
            norm = clip_fn(trainable, cfg["clip_max_norm"]).item()
            out["grad_norm"].append(norm)
        opt.step()
        if sched is not None:
            sched.step()
        out["W"].append(W.detach().numpy().copy())
        out["b"].append(b.detach().numpy().copy())
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


def deviation(a, b):
    """Largest over steps and tensors of max|a - b| / (RTOL max|b|)."""
    worst = 0.0
    for key in ("W", "b"):
        for t in range(N_STEPS):
            scale = np.max(np.abs(b[key][t]))
            err = np.max(np.abs(a[key][t] - b[key][t]))
            worst = max(worst, err / (RTOL * scale) if scale > 0 else (np.inf if err else 0.0))
    return worst


def mutants(cfg):
    """(label, config) pairs, each with one setting changed slightly. Only
    settings the case uses: a frozen case's settings, eps (1e-8 is lost
    next to sqrt(v)) and the loss are left alone."""
    out = []

    def with_(label, **kw):
        c = dict(cfg)
        c.update(kw)
        out.append((label, c))

    for key in ("lr", "momentum", "dampening", "weight_decay", "gamma", "min_lr",
                "warmup_start", "clip_max_norm"):
        if cfg[key] != DEFAULTS[key] or (key == "lr"):
            with_("%s*1.01" % key, **{key: cfg[key] * 1.01})
    if cfg["optimizer"] != "sgd":
        for key in ("beta1", "beta2"):
            # 12 steps hardly tell 1 - beta2 = 0.001 from 0.00101: with
            # bias correction, v/(1 - beta2^t) is a near-uniform average of
            # g^2 either way
            with_("1-%s*1.1" % key, **{key: 1 - (1 - cfg[key]) * 1.1})
    if cfg["momentum"] > 0 and cfg["dampening"] == 0:
        with_("nesterov flipped", nesterov=1 - cfg["nesterov"])
    for key in ("step_size", "t_max", "warmup"):
        if cfg[key] > 0:
            with_("%s+1" % key, **{key: cfg[key] + 1})
    if cfg["unfreeze_at"] >= 0:
        with_("unfreeze_at+1", unfreeze_at=cfg["unfreeze_at"] + 1)
    return out


def dataset(group, name, arr):
    arr = np.ascontiguousarray(arr)
    dcpl = dataset_properties()
    dcpl.set_layout(h5py.h5d.COMPACT)
    group.create_dataset(name, data=arr, dcpl=dcpl)


def new_group(parent, name):
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    # a case's ~20 attributes stay in its object header: past HDF5's
    # default of 8 they would move to a B-tree and a heap, 1.8 KB a case
    gcpl.set_attr_phase_change(64, 48)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data",
                                                               "optim_ref.h5")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = problem()
    W0, b0, X, labels, target = data
    near = (W0, b0, X, labels, near_target(W0, b0, X))

    results = {}
    for name, settings in CASES.items():
        cfg = copy.deepcopy(DEFAULTS)
        assert set(settings) <= set(cfg), name
        cfg.update(settings)
        cdata = near if name in NEAR_TARGET_CASES else data
        ref = run(cfg, cdata)
        if cfg["clip_max_norm"] > 0 and not np.all(ref["grad_norm"] > cfg["clip_max_norm"]):
            raise SystemExit("%s: clip_max_norm %g is not below the norm at every step (%s)"
                             % (name, cfg["clip_max_norm"], ref["grad_norm"]))
        if cfg["frozen"]:
            key = "W" if cfg["frozen"] == "fc.weight" else "b"
            init = W0 if key == "W" else b0
            until = cfg["unfreeze_at"] if cfg["unfreeze_at"] >= 0 else N_STEPS
            assert np.array_equal(ref[key][:until], np.broadcast_to(init, ref[key][:until].shape))
        weakest = (np.inf, "")
        runs = [(label, lambda c=mcfg: run(c, cdata)) for label, mcfg in mutants(cfg)]
        if name in CLIP_EPS_CASES:
            runs.append(("clipping without torch's 1e-6", lambda: run(cfg, cdata, clip_without_eps)))
        for label, fn in runs:
            d = deviation(fn(), ref)
            if d < weakest[0]:
                weakest = (d, label)
            if d < MIN_SENSITIVITY:
                raise SystemExit("%s: changing %s moves the parameters by only %.3g tolerances"
                                 % (name, label, d))
        results[name] = (cfg, ref, cdata)
        print("%-26s loss %.4f -> %.4f; least sensitive change: %s (%.3g tolerances)"
              % (name, ref["loss"][0], ref["loss"][-1], weakest[1], weakest[0]))

    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    f = h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl))
    # the problem is stored once and hard-linked into every case: a case's
    # W0 and /problem/W0 are the same dataset under two names
    shared = new_group(f, "problem")
    for k, v in (("W0", W0), ("b0", b0), ("X", X), ("labels", labels), ("target", target)):
        dataset(shared, k, v)
    cases = new_group(f, "cases")
    for name, (cfg, ref, cdata) in results.items():
        g = new_group(cases, name)
        for k, v in cfg.items():
            if k in STR_KEYS:
                string_attr(g, k, v)
            elif k in INT_KEYS:
                g.attrs.create(k, np.int32(v))
            else:
                g.attrs.create(k, np.float64(v))
        for k in ("W0", "b0", "X", "labels" if cfg["loss"] == "cross_entropy" else "target"):
            if k == "target" and cdata is near:
                dataset(g, k, cdata[4])
            else:
                g[k] = shared[k]  # a hard link
        for k in ("lr", "loss", "W", "b"):
            dataset(g, k, ref[k])
        if cfg["clip_max_norm"] > 0:
            dataset(g, "grad_norm", ref["grad_norm"])
    string_attr(f, "format", "wengert-optim-ref/1")
    string_attr(f, "torch_version", torch.__version__)
    f.attrs.create("n_cases", np.int32(len(results)))
    f.attrs.create("n_steps", np.int32(N_STEPS))
    f.attrs.create("rtol", np.float64(RTOL))
    f.close()
    size = os.path.getsize(path)
    print("%s: %d cases of %d steps, %d bytes" % (os.path.normpath(path), len(results), N_STEPS,
                                                  size))
    if size > MAX_FILE_BYTES:
        raise SystemExit("%s is larger than %d bytes" % (path, MAX_FILE_BYTES))


if __name__ == "__main__":
    main()
