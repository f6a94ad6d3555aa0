#!/bin/sh
# LeNet-5 training speed: 1 process x 1 thread, 1 process x 2 threads and
# 2 processes x 1 thread (mpirun), through examples/train_lenet's "train
# images/s" line (the global images per second of the training steps:
# batch assembly, forward, backward, the Allreduce, the optimizer).
#
#   bench/mpi.sh [BUILD_DIR]    (relative to the source tree; default: build-mpi,
#                                configured --with-mpi)
#
# Env: STEPS (default 400 steps of global batch 64), REPS (3; the median is
# reported), BATCH (64), OMP_WAIT_POLICY (unset: libgomp's default). Prints
# a Markdown table with the load average before and after each run: on a
# shared machine the figures are noisy.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build-mpi}
lenet="$build/examples/train_lenet"
[ -x "$lenet" ] || { echo "bench/mpi.sh: no $lenet (configure $build with --with-mpi, make)" >&2; exit 1; }
grep -q '^#define WG_HAVE_MPI 1' "$build/config.h" ||
    { echo "bench/mpi.sh: $build is not configured --with-mpi" >&2; exit 1; }
STEPS=${STEPS:-400} REPS=${REPS:-3} BATCH=${BATCH:-64}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# OMP_WAIT_POLICY passes through: passive (threads sleep at every barrier)
# costs the 2-thread run a third of its speed on a quiet machine; on a
# shared one it keeps that run from collapsing (docs/performance.md)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# one epoch's worth of images is more than STEPS batches; --val 0 and a
# small --limit keep the untimed evaluation short
opts="--epochs 1 --max-steps $STEPS --batch $BATCH --val 0 --limit $((STEPS * BATCH + BATCH)) --out $out"

load() { cut -d' ' -f1 /proc/loadavg; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
run() { # label, command...: prints a table row
    label=$1
    shift
    rates="" loads=""
    for r in $(seq "$REPS"); do
        before=$(load)
        ips=$("$@" $opts 2>/dev/null | sed -n 's/^train images\/s: //p')
        [ -n "$ips" ] || { echo "bench/mpi.sh: '$*' failed" >&2; exit 1; }
        rates="$rates $ips" loads="$loads $before-$(load)"
    done
    med=$(echo $rates | tr ' ' '\n' | median)
    echo "| $label | $med | $rates | $loads |"
}

echo "LeNet-5, global batch $BATCH, $STEPS steps, median of $REPS; $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) processors"
echo
echo "| configuration | images/s (median) | runs | load average before-after each run |"
echo "| --- | ---: | --- | --- |"
run "1 process x 1 thread" "$lenet" --threads 1
run "1 process x 2 threads" "$lenet" --threads 2
run "2 processes x 1 thread (mpirun -np 2)" mpirun -np 2 "$lenet" --threads 1
