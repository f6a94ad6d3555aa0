#!/bin/bash
# Builds libwengert in-tree if needed (make -j2 when the tree is configured,
# tools/setup.sh otherwise), then compiles the benchmark programs of bench/
# against it: bench/build/bench_wengert and bench/build/op_profile.
# Used by bench/run and bench/profile_lenet.sh; nothing outside bench/ is
# written except by the library's own build.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
OUT="$BENCH/build"
mkdir -p "$OUT"
LOG="$OUT/build.log"
: >"$LOG"

lib="$ROOT/.libs/libwengert.so"
if [ -f "$ROOT/Makefile" ]; then
    # other people may be mid-edit: retry a couple of times, then fall back
    # to building the library alone, then to the library already there
    ok=0
    for attempt in 1 2 3; do
        if make -C "$ROOT" -j2 >>"$LOG" 2>&1; then ok=1; break; fi
        if make -C "$ROOT" -j2 libwengert.la >>"$LOG" 2>&1; then
            echo "bench/build: 'make' failed but libwengert.la built (see $LOG)" >&2
            ok=1; break
        fi
        [ "$attempt" -lt 3 ] && { echo "bench/build: make failed, retrying in 30 s" >&2; sleep 30; }
    done
    if [ "$ok" -ne 1 ]; then
        if [ -f "$lib" ]; then
            echo "bench/build: WARNING: make failed (see $LOG); using the existing $lib" >&2
        else
            echo "bench/build: make failed and there is no library (see $LOG)" >&2
            exit 1
        fi
    fi
else
    echo "bench/build: tree not configured: running tools/setup.sh" >&2
    "$ROOT/tools/setup.sh" >>"$LOG" 2>&1 || { echo "bench/build: setup failed (see $LOG)" >&2; exit 1; }
fi
[ -f "$lib" ] || { echo "bench/build: $lib missing after the build" >&2; exit 1; }

# the BLAS flags the library was configured with, else pkg-config's
blas_cflags=$(sed -n 's/^BLAS_CFLAGS = //p' "$ROOT/Makefile" 2>/dev/null || true)
blas_libs=$(sed -n 's/^BLAS_LIBS = //p' "$ROOT/Makefile" 2>/dev/null || true)
[ -n "$blas_libs" ] || blas_cflags=$(pkg-config --cflags openblas 2>/dev/null || true)
[ -n "$blas_libs" ] || blas_libs=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)

CC=${CC:-gcc}
for prog in bench_wengert op_profile; do
    # shellcheck disable=SC2086
    $CC -O2 -g -fopenmp -Wall -Wextra -I"$ROOT/include" $blas_cflags \
        "$BENCH/$prog.c" -o "$OUT/$prog.tmp" \
        -L"$ROOT/.libs" -lwengert -Wl,-rpath,"$ROOT/.libs" $blas_libs -lm >>"$LOG" 2>&1 ||
        { echo "bench/build: compiling $prog.c failed:" >&2; tail -20 "$LOG" >&2; exit 1; }
    mv "$OUT/$prog.tmp" "$OUT/$prog"
done
