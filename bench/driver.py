#!/usr/bin/python3
"""Runs the benchmark and writes bench/results.csv and bench/results.md.

Called by bench/run after bench/build.sh has built bench/build/bench_wengert.
For each workload and thread count it runs, REPS times, wengert then
PyTorch (the order flips every repetition, so a slow drift of the machine
does not favour one side) and, for the fully connected models, the
cblas_sgemm reference on the model's GEMM shapes; each is a fresh process.
It reports medians. See bench/README.md for the columns.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WENGERT = os.path.join(BENCH, "build", "bench_wengert")
TORCH = os.path.join(BENCH, "bench_torch.py")
PYTHON = "/usr/bin/python3"

WORKLOADS = ("mlp", "lenet", "autoencoder", "wide_mlp", "lenet_infer")
# fully connected: these get a gemm_fraction
GEMM_WORKLOADS = ("mlp", "autoencoder", "wide_mlp")
# (timed steps, warm-up steps): about 1.5-3 s of timed work per process at
# one thread on the 2-core reference machine
FULL = {"mlp": (2500, 20), "lenet": (200, 5), "autoencoder": (2500, 20),
        "wide_mlp": (8, 2), "lenet_infer": (20, 2)}
QUICK = {"mlp": (200, 5), "lenet": (20, 2), "autoencoder": (200, 5),
         "wide_mlp": (2, 1), "lenet_infer": (3, 1)}
GEMM_SECONDS = {"full": 0.25, "quick": 0.03}  # per GEMM shape

CSV_COLUMNS = ("workload,threads,wengert_ips,torch_ips,ratio,wengert_rss_mb,torch_rss_mb,"
               "allocs_per_step,gemm_fraction")


def parse_args():
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="wengert vs PyTorch 1.13 on Fashion-MNIST workloads, side by side in one "
                    "run; writes bench/results.csv and bench/results.md.")
    p.add_argument("--quick", action="store_true",
                   help="few steps and 1 repetition (a smoke test, not a measurement)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of %s (default: all)" % ",".join(WORKLOADS))
    p.add_argument("--threads", default="1,2",
                   help="comma-separated thread counts (default: 1,2)")
    p.add_argument("--reps", type=int, default=None,
                   help="repetitions per side (default: 3, or 1 with --quick)")
    p.add_argument("--max-wait", type=float, default=None,
                   help="before each benchmark process, wait up to this many seconds for "
                        "other jobs' runnable tasks to go away (default: 60; 0 with --quick)")
    p.add_argument("--wait-budget", type=float, default=120,
                   help="most seconds of such waiting over the whole run (default: 120)")
    p.add_argument("--omp-wait-policy", choices=("default", "passive", "active"),
                   default="default",
                   help="OMP_WAIT_POLICY for every process, both sides (default: libgomp's "
                        "own, i.e. unset); passive keeps 2-thread runs sane when other jobs "
                        "share the cores")
    p.add_argument("--isa", choices=sorted(ISA_ENV), default="native",
                   help="native: each library's best code for this CPU (default); avx2: "
                        "both sides limited to AVX2 + FMA (%s)"
                        % " ".join("%s=%s" % kv for kv in ISA_ENV["avx2"].items()))
    p.add_argument("--out", default=None,
                   help="directory for results.csv, results.md, results.jsonl "
                        "(default: bench/, or bench/avx2/ with --isa avx2)")
    a = p.parse_args()
    a.workloads = [w for w in a.workloads.split(",") if w]
    bad = [w for w in a.workloads if w not in WORKLOADS]
    if bad or not a.workloads:
        p.error("unknown workload(s) %s; choose from %s" % (",".join(bad), ",".join(WORKLOADS)))
    try:
        a.threads = sorted({int(t) for t in a.threads.split(",") if t})
    except ValueError:
        p.error("--threads wants integers, e.g. 1,2")
    if not a.threads or min(a.threads) < 1:
        p.error("--threads wants positive integers")
    if a.reps is None:
        a.reps = 1 if a.quick else 3
    if a.max_wait is None:
        a.max_wait = 0 if a.quick else 60
    if a.reps < 1:
        p.error("--reps must be >= 1")
    if a.out is None:
        a.out = BENCH if a.isa == "native" else os.path.join(BENCH, a.isa)
    return a


def loadavg():
    with open("/proc/loadavg") as f:
        return tuple(float(v) for v in f.read().split()[:3])


def others_running(samples=5):
    """Runnable tasks other than this one, averaged over a few samples taken
    while no benchmark process runs: the load other jobs put on the machine."""
    total = 0
    for i in range(samples):
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
        total += max(running - 1, 0)  # the reader itself is running
        time.sleep(0.02)
    return total / samples


def lscpu():
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                info[k.strip()] = v.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    model = info.get("Model name", platform.processor() or "unknown CPU")
    cpus = info.get("CPU(s)", str(os.cpu_count()))
    try:
        cores = int(info["Core(s) per socket"]) * int(info.get("Socket(s)", "1"))
    except (KeyError, ValueError):
        cores = os.cpu_count()
    return model, cores, cpus


WAITED = [0.0]
WAIT_POLICY = ["default"]
# --isa avx2: every process, both sides, limited to AVX2 + FMA, as on the
# AVX2-only machines (Zen 3) the performance issue measured against. Each
# library has its own switch: ours, OpenBLAS's kernel choice (a
# DYNAMIC_ARCH build), PyTorch's ATen kernels, and oneDNN's.
ISA_ENV = {"native": {},
           "avx2": {"WG_CPU": "avx2", "OPENBLAS_CORETYPE": "Haswell",
                    "ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2"}}
ISA = ["native"]


def wait_quiet(max_wait, budget):
    """Waits (up to max_wait s, and within the run's budget) until no other
    job has a runnable task; returns the other runnable tasks seen last."""
    busy = others_running()
    t0 = time.time()
    while busy >= 0.4 and time.time() - t0 < max_wait and WAITED[0] + time.time() - t0 < budget:
        time.sleep(2)
        busy = others_running()
    WAITED[0] += time.time() - t0
    return busy


def run_json(cmd, env_threads, log, quiet=(0, 0)):
    """Runs one benchmark process; returns its JSON line (dict) or None."""
    before = wait_quiet(*quiet)
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(k, None)
    env["OMP_NUM_THREADS"] = str(env_threads)
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    if WAIT_POLICY[0] != "default":
        env["OMP_WAIT_POLICY"] = WAIT_POLICY[0]
    for k in ISA_ENV["avx2"]:
        env.pop(k, None)
    env.update(ISA_ENV[ISA[0]])
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    except subprocess.TimeoutExpired:
        print("  ! timeout: %s" % " ".join(cmd), file=sys.stderr)
        return None
    rec = None
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rec = json.loads(line)
    if r.returncode != 0 or rec is None:
        print("  ! failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr[-2000:]),
              file=sys.stderr)
        return None
    rec["load1"] = loadavg()[0]
    rec["others_before"] = before
    rec["others_running"] = others_running()
    rec["contended"] = max(before, rec["others_running"]) >= 0.4
    rec["process_seconds"] = round(time.time() - t0, 3)
    log.write(json.dumps(rec) + "\n")
    log.flush()
    return rec


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits):
    return "" if v is None else "%.*f" % (digits, v)


def main():
    a = parse_args()
    if not os.access(WENGERT, os.X_OK):
        sys.exit("driver: %s is missing; run bench/run (it builds it)" % WENGERT)
    mode = "quick" if a.quick else "full"
    WAIT_POLICY[0] = a.omp_wait_policy
    ISA[0] = a.isa
    plan = QUICK if a.quick else FULL
    info_env = dict(os.environ)
    info_env.update(ISA_ENV[a.isa])
    build_info = subprocess.run([WENGERT, "--info"], capture_output=True, text=True,
                                check=True, env=info_env).stdout.strip()
    # the trailing thread count is the --info process's default, not a setting of the runs
    build_info = re.sub(r", \d+ threads?$", "", build_info)
    cpu_model, cores, cpus = lscpu()
    torch_version = subprocess.run(
        [PYTHON, "-c", "import torch; print(torch.__version__)"], capture_output=True,
        text=True).stdout.strip() or "unavailable"
    started = datetime.datetime.now().astimezone()
    load_start = loadavg()
    os.makedirs(a.out, exist_ok=True)
    raw_path = os.path.join(a.out, "results.jsonl")
    log = open(raw_path, "w")
    print("bench: %s; %s; PyTorch %s; %s run, %d repetition(s); load average %s"
          % (cpu_model, build_info, torch_version, mode, a.reps,
             " ".join("%.2f" % v for v in load_start)), file=sys.stderr)

    results = {}  # (workload, threads) -> dict of lists
    loads = [load_start[0]]
    others = [others_running()]
    t_begin = time.time()
    for w in a.workloads:
        steps, warmup = plan[w]
        for n in a.threads:
            r = results[(w, n)] = {"w": [], "t": [], "g": []}
            for rep in range(a.reps):
                wcmd = [WENGERT, "--workload", w, "--threads", str(n), "--steps", str(steps),
                        "--warmup", str(warmup)]
                tcmd = [PYTHON, TORCH, "--workload", w, "--threads", str(n), "--steps",
                        str(steps), "--warmup", str(warmup)]
                order = [("w", wcmd), ("t", tcmd)]
                if rep % 2 == 1:
                    order.reverse()
                if w in GEMM_WORKLOADS:
                    order.append(("g", [WENGERT, "--gemm", w, "--threads", str(n), "--seconds",
                                        str(GEMM_SECONDS[mode])]))
                for side, cmd in order:
                    rec = run_json(cmd, n, log, (a.max_wait, a.wait_budget))
                    r[side].append(rec)
                    if rec:
                        loads.append(rec["load1"])
                        others.append(rec["others_running"])
                wi = r["w"][-1]["ips"] if r["w"][-1] else float("nan")
                ti = r["t"][-1]["ips"] if r["t"][-1] else float("nan")
                print("  %-12s %d thread(s) rep %d: wengert %10.1f  torch %10.1f images/s  "
                      "(load %.2f)" % (w, n, rep + 1, wi, ti, loadavg()[0]), file=sys.stderr)
    log.close()
    elapsed = time.time() - t_begin
    load_end = loadavg()

    rows = []
    for w in a.workloads:
        for n in a.threads:
            r = results[(w, n)]
            w_ips = med([x["ips"] for x in r["w"] if x])
            # PyTorch's best median at a thread count not above ours
            best, best_n = None, None
            for m in a.threads:
                if m > n:
                    continue
                v = med([x["ips"] for x in results[(w, m)]["t"] if x])
                if v is not None and (best is None or v > best):
                    best, best_n = v, m
            t_rss = med([x["rss_mb"] for x in results[(w, best_n)]["t"] if x]) \
                if best_n is not None else None
            ratio = w_ips / best if w_ips is not None and best else None
            gf = None
            g = [x for x in r["g"] if x]
            if g and w_ips is not None:
                gflops = med([x["gflops"] for x in g])
                gf = g[0]["flops_per_image"] * w_ips / (gflops * 1e9)
            rows.append({
                "workload": w, "threads": n, "wengert_ips": w_ips, "torch_ips": best,
                "torch_threads": best_n, "ratio": ratio,
                "wengert_rss_mb": med([x["rss_mb"] for x in r["w"] if x]),
                "torch_rss_mb": t_rss,
                "allocs_per_step": max([x["allocs_per_step"] for x in r["w"] if x], default=None),
                "gemm_fraction": gf,
                "gemm_gflops": med([x["gflops"] for x in g]) if g else None,
                "flops_per_image": g[0]["flops_per_image"] if g else None,
                "w_all": [(x["ips"], x["contended"]) for x in r["w"] if x],
                "t_all": [(x["ips"], x["contended"]) for x in r["t"] if x],
                "g_all": [(x["gflops"], x["contended"]) for x in g],
                "contended": sum(x["contended"] for side in "wtg" for x in r[side] if x),
                "loss": (r["w"][-1]["loss_first"], r["w"][-1]["loss_last"],
                         r["t"][-1]["loss_first"], r["t"][-1]["loss_last"])
                if r["w"] and r["w"][-1] and r["t"] and r["t"][-1] else None,
            })

    csv_path = os.path.join(a.out, "results.csv")
    with open(csv_path, "w") as f:
        f.write(CSV_COLUMNS + "\n")
        for x in rows:
            f.write(",".join([x["workload"], str(x["threads"]), fmt(x["wengert_ips"], 1),
                              fmt(x["torch_ips"], 1), fmt(x["ratio"], 3),
                              fmt(x["wengert_rss_mb"], 1), fmt(x["torch_rss_mb"], 1),
                              fmt(x["allocs_per_step"], 2), fmt(x["gemm_fraction"], 3)]) + "\n")

    md = []
    md.append("# wengert vs PyTorch: training and inference speed\n")
    md.append("- date: %s" % started.strftime("%Y-%m-%d %H:%M %Z"))
    md.append("- machine: %s, %s core(s) (%s CPUs online), %s" % (cpu_model, cores, cpus,
                                                                  platform.platform()))
    md.append("- wengert: %s" % build_info)
    md.append("- PyTorch: %s (Debian), threads set by torch.set_num_threads and "
              "OMP/MKL/OPENBLAS_NUM_THREADS" % torch_version)
    if a.isa != "native":
        md.append("- instruction sets: both sides limited to %s (%s), the vector width of the "
                  "AVX2-only machines the goals were set on"
                  % (a.isa.upper(), ", ".join("%s=%s" % kv for kv in ISA_ENV[a.isa].items())))
    md.append("- run: %s, %d repetition(s) per side, medians; wengert and PyTorch alternate "
              "(fresh processes); OMP_WAIT_POLICY %s; %.0f s in all"
              % (mode, a.reps, "unset (libgomp's default)" if a.omp_wait_policy == "default"
                 else a.omp_wait_policy, elapsed))
    md.append("- load average (1 min; the benchmark itself adds up to its thread count) at "
              "start %.2f, during %.2f-%.2f, at end %.2f"
              % (load_start[0], min(loads), max(loads), load_end[0]))
    md.append("- other jobs: runnable tasks not ours, sampled between benchmark processes: "
              "mean %.2f, max %.1f (0 = an idle machine; on 2 cores, 1 means one core was "
              "taken by someone else at that moment)" % (statistics.mean(others), max(others)))
    md.append("- steps timed per process: %s" % ", ".join(
        "%s %d (+%d warm-up)" % (w, plan[w][0], plan[w][1]) for w in a.workloads))
    md.append("")
    md.append("| workload | threads | wengert img/s | PyTorch img/s (best ≤ threads) | ratio | "
              "wengert RSS MB | PyTorch RSS MB | allocs/step | gemm_fraction | runs shared |")
    md.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for x in rows:
        md.append("| %s | %d | %s | %s%s | %s | %s | %s | %s | %s | %d/%d |" % (
            x["workload"], x["threads"], fmt(x["wengert_ips"], 0), fmt(x["torch_ips"], 0),
            " (@%d)" % x["torch_threads"] if x["torch_threads"] else "",
            fmt(x["ratio"], 2), fmt(x["wengert_rss_mb"], 0), fmt(x["torch_rss_mb"], 0),
            fmt(x["allocs_per_step"], 1), fmt(x["gemm_fraction"], 2), x["contended"],
            len(x["w_all"]) + len(x["t_all"]) + len(x["g_all"])))
    md.append("")
    md.append("ratio = wengert img/s ÷ PyTorch's best img/s at a thread count not above "
              "wengert's (`@k`: the PyTorch thread count that was best). gemm_fraction = "
              "model FLOPs per image × wengert img/s ÷ cblas_sgemm GFLOP/s on the model's "
              "GEMM shapes at the same thread count (1.0 = as fast as bare GEMM). runs shared: "
              "how many of the row's processes (wengert, PyTorch, GEMM reference) ran while "
              "another job had a runnable task (marked `*` below). "
              "See bench/README.md.")
    md.append("")
    md.append("### Every repetition (images/s; GEMM reference in GFLOP/s)\n")
    md.append("`*`: another job had a runnable task just before or after that process "
              "(after waiting up to %.0f s for the machine to be quiet; %.0f s waited in all), "
              "so it probably shared the cores.\n" % (a.max_wait, WAITED[0]))
    md.append("| workload | threads | wengert | PyTorch (same threads) | cblas_sgemm GFLOP/s | "
              "model FLOP/image | loss first→last (wengert / PyTorch) |")
    md.append("| --- | ---: | --- | --- | --- | ---: | --- |")
    for x in rows:
        loss = x["loss"]
        md.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            x["workload"], x["threads"],
            " / ".join("%.0f%s" % (v, "*" if c else "") for v, c in x["w_all"]),
            " / ".join("%.0f%s" % (v, "*" if c else "") for v, c in x["t_all"]),
            " / ".join("%.1f%s" % (v, "*" if c else "") for v, c in x["g_all"]),
            "%.3g" % x["flops_per_image"] if x["flops_per_image"] else "",
            "%.3f→%.3f / %.3f→%.3f" % loss if loss else ""))
    md.append("")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text)
    print(text)
    print("wrote %s, %s, %s" % (csv_path, os.path.join(a.out, "results.md"), raw_path),
          file=sys.stderr)
    failed = any(x["wengert_ips"] is None or x["torch_ips"] is None for x in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
