#!/bin/sh
# Runs libFuzzer targets for a fixed time each and reports, per target,
# the seconds it ran, the executions it made and the crashes it found,
# told apart by where they happened: in our code (the library, the
# harness's checks) or inside libhdf5 (a third-party finding).
#
#   fuzz/run.sh SECONDS BINDIR FUZZSRC OUTDIR TARGET...
#
# BINDIR holds fuzz_TARGET; FUZZSRC is the source tree's fuzz directory
# (seeds in corpus/TARGET, regression inputs in regress/TARGET); OUTDIR
# gets, per target, the working corpus, the crash inputs and the logs.
# A crash stops libFuzzer; the target is restarted for the time left, so
# every target runs its full time. A crash input is copied, once per
# distinct stack, into FUZZSRC/regress/TARGET (our code: a bug to fix and
# a regression input for make check) or FUZZSRC/findings/TARGET (libhdf5),
# when FUZZSRC is writable. Exits non-zero if our code crashed.
#
# Environment: FUZZ_TIMEOUT (seconds before an input counts as a hang,
# default 10), FUZZ_RSS_MB (memory limit, default 2048), FUZZ_ARGS (more
# libFuzzer options).
set -u
if [ $# -lt 5 ]; then
    echo "usage: $0 SECONDS BINDIR FUZZSRC OUTDIR TARGET..." >&2
    exit 2
fi
seconds=$1 bindir=$2 fuzzsrc=$3 outdir=$4
shift 4
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}

ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:handle_abort=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# leaks inside libhdf5 are third-party (see lsan.supp)
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$fuzzsrc/lsan.supp:print_suppressions=0}
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

mkdir -p "$outdir" || exit 2
# the harnesses' temporary files, memory-backed where possible, removed at
# the end even after crashes
scratch=$(mktemp -d /dev/shm/wgfuzz-run.XXXXXX 2>/dev/null || mktemp -d) || exit 2
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
TMPDIR=$scratch
export TMPDIR
summary="$outdir/summary.txt"
printf '%-16s %8s %12s %7s %10s %11s %s\n' target seconds executions edges "our code" \
    "in libhdf5" restarts > "$summary"

# The frames of the first report in a log, one "function place" line each
# ("?" for the function of an unsymbolised frame, e.g. in Debian's
# stripped libhdf5), without the sanitizers' and libFuzzer's own frames,
# the C library's memory, string and abort functions, and our allocation
# wrappers (so an allocation is placed where it was asked for).
frames() {
    sed -n '/ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\|UndefinedBehaviorSanitizer\)\|runtime error:/,$p' "$1" |
        awk '/^ *#[0-9]+ 0x[0-9a-f]+/ {
                 if ($3 == "in") { fn = $4; $1 = $2 = $3 = $4 = "" }
                 else { fn = "?"; $1 = $2 = "" }
                 sub(/^ +/, ""); sub(/ *\(BuildId: [0-9a-f]+\)/, "")
                 print fn "\t" $0
             }
             /^$/ && seen { exit } /^ *#0 / { seen = 1 }' |
        grep -v -E '^(__asan|__interceptor|__sanitizer|__ubsan|__lsan|__libc_start|fuzzer::|__GI_|__(memcpy|memmove|memset|memcmp|mempcpy|strlen|strcmp))[^[:space:]]*[[:space:]]' |
        grep -v -E '^(_start|LLVMFuzzerTestOneInput|main|malloc|calloc|realloc|free|abort|raise|gsignal|__pthread_kill_implementation|__pthread_kill_internal|pthread_kill|h_malloc|h_realloc|libc_malloc|libc_realloc|wg_malloc|wg_calloc|wg_realloc|mem(cpy|move|set|cmp|chr)|str(len|cmp|ncmp|cpy|ncpy|chr|rchr|dup)|operator)[[:space:]]' |
        grep -v -E 'compiler-rt|libclang_rt|/libc\.so|libc\.so\.6|sysdeps/|^[^[:space:]]*[[:space:]]csu/'
}

# "ours" or "libhdf5" by the first remaining frame; "unknown" without one,
# and for running out of memory (counted as ours, triaged by hand): a few
# kilobytes of input that cost gigabytes mean some size in the file was
# trusted, and checking sizes before reading is our validation's job even
# when libhdf5 makes the allocation; over the RSS limit, the stack shows
# what is alive, not what allocated
classify() {
    # one huge malloc made inside libhdf5 itself (e.g. a corrupt local heap
    # size read during a link lookup, before any of our checks can look at
    # the object) is libhdf5's; running over the RSS limit stays ours
    if grep -q 'ERROR: libFuzzer: out-of-memory (malloc(' "$1"; then
        case $(frames "$1" | head -n 1) in
        *libhdf5*) echo libhdf5; return ;;
        esac
    fi
    if grep -q 'ERROR: libFuzzer: out-of-memory' "$1"; then
        echo unknown
        return
    fi
    first=$(frames "$1" | head -n 1)
    case $first in
    '') echo unknown ;;
    *libhdf5*) echo libhdf5 ;;
    *) echo ours ;;
    esac
}

# the first three frames, e.g. "H5O_msg_read ? wg_h5_dataset_load", for
# telling crashes apart; unsymbolised frames as library+offset
signature() {
    frames "$1" | head -n 3 | awk -F '\t' '{
        if ($1 != "?") { print $1; next }
        p = $2; gsub(/[()]/, "", p); sub(/.*\//, "", p); print p }' | tr '\n' ' ' | sed 's/ $//'
}

ours_total=0
for t in "$@"; do
    bin="$bindir/fuzz_$t"
    work="$outdir/$t"
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin missing (make fuzz-build)" >&2
        exit 2
    fi
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/crashes" "$work/logs"
    # the regression inputs join the working corpus, except those pending a
    # library fix (*.pending), which would crash again at start-up, as
    # would findings/
    for f in "$fuzzsrc/regress/$t"/*; do
        case $f in
        *.pending | *.txt | */README*) ;;
        *) [ -f "$f" ] && cp "$f" "$work/corpus/" ;;
        esac
    done
    dirs="$work/corpus $fuzzsrc/corpus/$t"
    start=$(date +%s)
    execs=0 ours=0 theirs=0 restarts=0 run=0 sigs=""
    echo "=== fuzz_$t: $seconds s"
    while :; do
        now=$(date +%s)
        left=$((seconds - (now - start)))
        [ "$left" -gt 0 ] || break
        run=$((run + 1))
        log="$work/logs/run$run.log"
        # shellcheck disable=SC2086
        "$bin" -max_total_time="$left" -timeout="$timeout" -rss_limit_mb="$rss" \
            -print_final_stats=1 -artifact_prefix="$work/crashes/" ${FUZZ_ARGS:-} \
            $dirs > "$log" 2>&1
        rc=$?
        n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        [ -n "$n" ] || n=$(sed -n 's/^#\([0-9]*\).*DONE.*/\1/p' "$log" | tail -n 1)
        execs=$((execs + ${n:-0}))
        [ "$rc" -eq 0 ] && break
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        if [ -z "$input" ] || [ ! -f "$input" ]; then
            echo "run.sh: fuzz_$t stopped (exit $rc) without a crash input; see $log" >&2
            grep -E 'ERROR|error' "$log" | head -n 5 >&2
            ours=$((ours + 1))
            break
        fi
        restarts=$((restarts + 1))
        kind=$(classify "$log")
        sig=$(signature "$log")
        what=$(grep -E 'broken promise:|runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)' "$log" |
            head -n 1 | sed 's/^==[0-9]*==//; s/ (pc 0x.*//')
        echo "  crash ($kind): $what"
        echo "    at: $sig"
        echo "    input: $input"
        case $kind in
        libhdf5) theirs=$((theirs + 1)); dest="$fuzzsrc/findings/$t" ;;
        *) ours=$((ours + 1)); dest="$fuzzsrc/regress/$t" ;;
        esac
        {
            echo "input: $(basename "$input")"
            echo "kind: $kind"
            echo "what: $what"
            echo "stack: $sig"
            echo
        } >> "$work/crashes.txt"
        # one committed input per distinct stack, none already committed,
        # under a short name (dist tarballs allow 99 characters a path)
        b=$(basename "$input" | sed 's/^\([a-z]*-[0-9a-f]\{8\}\)[0-9a-f]*/\1/')
        for known in "$fuzzsrc/regress/$t"/*.stack.txt "$fuzzsrc/findings/$t"/*.stack.txt; do
            [ -f "$known" ] || continue
            if [ "$(basename "$known" .stack.txt)" = "$b" ] ||
                [ "$(basename "$known" .stack.txt)" = "$b.pending" ] ||
                { [ -n "$sig" ] && [ "$(signature "$known")" = "$sig" ]; }; then
                echo "    same stack as the committed $(basename "$known" .stack.txt)"
                sigs="$sigs|$sig"
                break
            fi
        done
        case "|$sigs|" in
        *"|$sig|"*) ;;
        *)
            sigs="$sigs|$sig"
            if mkdir -p "$dest" 2>/dev/null && cp "$input" "$dest/$b" 2>/dev/null; then
                sed -n '/broken promise:\|runtime error:\|==ERROR: \|== ERROR: /,/^SUMMARY/p' "$log" |
                    sed "s|$(pwd)/||g" > "$dest/$b.stack.txt" 2>/dev/null
                echo "    copied to $dest/$b (commit it)"
            else
                echo "    keep it: $dest is not writable"
            fi
            ;;
        esac
        # the same crash again and again: stop restarting after 50
        [ "$restarts" -ge 50 ] && break
    done
    elapsed=$(($(date +%s) - start))
    # edges of our code covered (libhdf5 is not instrumented), at the end
    edges=$(cat "$work"/logs/run*.log | sed -n 's/^#[0-9]*.* cov: \([0-9]*\) .*/\1/p' | sort -n | tail -n 1)
    printf '%-16s %8s %12s %7s %10s %11s %s\n' "$t" "$elapsed" "$execs" "${edges:-?}" "$ours" \
        "$theirs" "$restarts" >> "$summary"
    echo "  fuzz_$t: $elapsed s, $execs executions, crashes: $ours in our code, $theirs in libhdf5"
    ours_total=$((ours_total + ours))
done
echo
cat "$summary"
[ "$ours_total" -eq 0 ]
