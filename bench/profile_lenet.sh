#!/bin/bash
# Where a LeNet-5 training step (batch 64) spends its time.
#
#   bench/profile_lenet.sh [--threads 1,2] [--seconds T] [--steps S] [--no-perf]
#
# 1. perf record (cpu-clock sampling, call graphs) of bench_wengert's lenet
#    workload, enabled only around the timed steps (perf --control, so data
#    loading and warm-up are not in it), printed per function (self time)
#    and per library. Needs perf: apt-get install -y linux-perf.
# 2. A per-op table at each thread count: every op of the step (forward and
#    backward) timed alone on LeNet's real shapes and values by
#    bench/op_profile.c, next to PyTorch's time for the same op
#    (bench/torch_op_profile.py), and each op's share of the measured step.
#
# Everything printed is also written to bench/profile_lenet.md. The
# environment passes through: OMP_WAIT_POLICY=passive keeps the 2-thread
# table sane when other jobs share the cores (see README.md, Other jobs).
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
THREADS=1,2
SECONDS_PER_LINE=0.3
STEPS=300
PERF=1
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --seconds) SECONDS_PER_LINE=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --no-perf) PERF=0; shift ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile_lenet: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

"$BENCH/build.sh"
POLICY=${OMP_WAIT_POLICY:-"unset (the libgomp default)"}
others_now() { awk '{ split($4, r, "/"); print r[1] - 1 }' /proc/loadavg; }
OUT="$BENCH/profile_lenet.md"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

{
echo "# LeNet-5 training step profile"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M %Z')"
echo "- machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $("$BENCH/build/bench_wengert" --info | sed 's/, [0-9]* threads\{0,1\}$//')"
echo "- OMP_WAIT_POLICY: $POLICY; runnable tasks of other jobs now: $(others_now)"
echo

# ---------------------------------------------------------------- perf
echo "## perf: time per function (1 thread, $STEPS timed steps, self time)"
echo
if [ "$PERF" -eq 0 ]; then
    echo "(skipped: --no-perf)"
elif ! command -v perf >/dev/null 2>&1; then
    echo "perf is not installed, so there is no sampling profile here: install Debian's"
    echo "linux-perf (apt-get install -y linux-perf) and run this again. The per-op table"
    echo "below does not need it."
else
    mkfifo "$TMP/ctl" "$TMP/ack"
    exec 10<>"$TMP/ctl" 11<>"$TMP/ack"
    if WG_PERF_CTL_FD=10 WG_PERF_ACK_FD=11 OMP_NUM_THREADS=1 \
        perf record -q -F 1999 -g -D -1 --control fd:10,11 -o "$TMP/perf.data" -- \
        "$BENCH/build/bench_wengert" --workload lenet --threads 1 --steps "$STEPS" --warmup 5 \
        >"$TMP/run.json" 2>"$TMP/perf.err" && [ -s "$TMP/perf.data" ]; then
        echo '```'
        sed 's/^/run: /' "$TMP/run.json"
        echo
        echo "per library:"
        # (to files first: with pipefail, head closing the pipe would stop the script)
        perf report -i "$TMP/perf.data" --no-children --sort dso -g none --stdio \
            >"$TMP/dso.txt" 2>/dev/null || true
        grep -E '^ +[0-9.]+%' "$TMP/dso.txt" | sed -n 1,8p || true
        echo
        echo "per function (top 30):"
        perf report -i "$TMP/perf.data" --no-children --sort symbol,dso -g none --stdio \
            >"$TMP/sym.txt" 2>/dev/null || true
        grep -E '^ +[0-9.]+%' "$TMP/sym.txt" | sed -n 1,30p || true
        echo '```'
        echo
        echo "OpenMP outlined bodies are named \`<function>._omp_fn.N\`; at one thread they"
        echo "hold the loops of that function (e.g. im2col/col2im in conv2d's)."
    else
        echo "perf record failed, so there is no sampling profile here:"
        echo '```'
        tail -5 "$TMP/perf.err"
        echo '```'
        echo "(in a container, kernel.perf_event_paranoid or a seccomp profile may forbid"
        echo "perf_event_open; the per-op table below does not need perf)"
    fi
    exec 10>&- 11>&-
fi
echo

# ---------------------------------------------------------------- per op
IFS=, read -r -a TLIST <<<"$THREADS"
for n in "${TLIST[@]}"; do
    echo "## Per op, $n thread(s)"
    echo
    OMP_NUM_THREADS=$n "$BENCH/build/op_profile" --threads "$n" --seconds "$SECONDS_PER_LINE" \
        >"$TMP/op_$n.txt"
    if /usr/bin/python3 -c "import torch" 2>/dev/null; then
        /usr/bin/python3 "$BENCH/torch_op_profile.py" --threads "$n" \
            --seconds "$SECONDS_PER_LINE" --merge "$TMP/op_$n.txt"
        echo
        grep -E "whole steps timed" "$TMP/op_$n.txt" | sed 's/^/wengert: /'
    else
        echo "(PyTorch not importable: wengert only)"
        cat "$TMP/op_$n.txt"
    fi
    echo
done
echo "Forward: wg_tape_reset + the op on a fresh single-op tape, recording. Backward:"
echo "wg_backward_from seeded with the op's real output gradient. Inputs are standalone"
echo "copies of the real activations, so a backward does not zero-fill its input's"
echo "gradient as a tape activation's is; 'sum of the lines' vs 'measured whole step'"
echo "shows what the per-op view misses (tape bookkeeping, zero-fills, cache effects)."
} | tee "$OUT"
