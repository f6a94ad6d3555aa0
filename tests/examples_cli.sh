#!/bin/sh
# Every example program given a bad command line: unknown options (and the
# shared options a program hides), stray arguments, missing values, values
# given to flags, empty values, and bad numbers (non-numeric, negative,
# zero where a count must be positive, NaN, beyond 32 bits) for every
# option its --help lists; then a missing data directory. Each run must
#   - exit with 2 for a bad command line (1 for the missing data), and not
#     by a signal (status < 128: no crash, no sanitizer report),
#   - say on stderr "PROG: " and name the bad option or value,
#   - follow a bad command line with the usage text (a missing data
#     directory is not one: a line saying how to get the data instead),
#   - create no file (each run starts in an empty directory, where the
#     default --out would be).
# --help must print the usage to stdout and exit with 0.
#
# Run by make check from the build directory (VPATH and sanitizer builds
# too): the examples are real binaries in ./examples (linked with
# -no-install, so no libtool wrapper). WG_EXAMPLES overrides the directory.
set -u
bindir=$(cd "${WG_EXAMPLES:-examples}" 2>/dev/null && pwd) || {
    echo "examples_cli: no examples directory (run from the build directory)" >&2
    exit 99
}
work=$(mktemp -d "${TMPDIR:-/tmp}/wg-cli.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
# bad values are caught before any data is read; if one were accepted by
# mistake, the run must still end quickly and fail: point the data away
unset WG_DATA_DIR
nodata=$work/no-such-data
runs=0 failed=0

fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
    sed 's/^/    stderr: /' "$work/err" | head -n 4
}

# run PROG WANT_STATUS NEEDLE ARGS...: runs in a fresh empty directory
run() {
    prog=$1 want=$2 needle=$3
    shift 3
    runs=$((runs + 1))
    rm -rf "$work/cwd" && mkdir "$work/cwd" || exit 99
    (cd "$work/cwd" && exec timeout 60 "$bindir/$prog" "$@") < /dev/null > "$work/out" 2> "$work/err"
    rc=$?
    what="$prog $*"
    if [ "$rc" -ge 128 ] || [ "$rc" -eq 124 ]; then
        fail "$what: killed or timed out (status $rc)"
        return
    fi
    if [ "$rc" -ne "$want" ]; then
        fail "$what: status $rc, expected $want"
        return
    fi
    if [ -n "$(ls -A "$work/cwd")" ]; then
        fail "$what: created $(ls -A "$work/cwd" | tr '\n' ' ')"
        return
    fi
    if [ "$want" -eq 0 ]; then
        grep -q '^usage: ' "$work/out" && [ ! -s "$work/err" ] ||
            fail "$what: --help must print the usage to stdout only"
        return
    fi
    head -n 1 "$work/err" | grep -q "^$prog: " ||
        fail "$what: the first line of stderr does not start with '$prog: '"
    grep -q -F -- "$needle" "$work/err" ||
        fail "$what: stderr does not name '$needle'"
    if [ "$want" -eq 2 ]; then
        grep -q '^usage: ' "$work/err" || fail "$what: no usage text on stderr"
        [ ! -s "$work/out" ] || fail "$what: wrote to stdout"
    fi
}

# the options PROG's --help lists, as "--name METAVAR" lines (METAVAR
# empty for a flag)
options() {
    "$bindir/$1" --help | sed -n 's/^  \(--[a-z][a-z0-9-]*\)\( \([A-Z]*\)\)\{0,1\}  .*/\1 \3/p' |
        grep -v '^--help '
}

# what comes before the options: evaluate's checkpoint comes first, and
# every program that reads data gets a missing directory, after which
# the bad option must still be what is reported
lead() {
    case $1 in
    evaluate) echo "$work/no.h5 --data $nodata" ;;
    spirals) ;;
    *) echo "--data $nodata" ;;
    esac
}

shared="--epochs --max-steps --batch --lr --threads --seed --data --out --save --resume --limit
--patience --summary"

for path in "$bindir"/*; do
    [ -f "$path" ] && [ -x "$path" ] || continue
    p=$(basename "$path")
    # shellcheck disable=SC2046
    set -- $(lead "$p")
    run "$p" 0 "" --help
    if [ "$p" = spirals ]; then # one optional argument: the step count
        run "$p" 2 "'abc'" abc
        run "$p" 2 "'-3'" -3
        run "$p" 2 "'--bogus'" --bogus
        run "$p" 2 "'2'" 1 2
        continue
    fi
    run "$p" 2 "'--bogus'" "$@" --bogus
    run "$p" 2 "'-x'" "$@" -x
    if [ "$p" = evaluate ]; then
        run "$p" 2 "'b.h5'" "$@" b.h5
        run "$p" 2 "missing CHECKPOINT"
    else
        run "$p" 2 "'extra'" "$@" extra
    fi
    opts=$(options "$p")
    # zero where a count must be positive, and 32-bit options beyond it
    if echo "$opts" | grep -q '^--batch '; then
        run "$p" 2 "--batch: 0 is out of range" "$@" --batch 0
        run "$p" 2 "--batch: 99999999999 is out of range" "$@" --batch 99999999999
    fi
    echo "$opts" | grep -q '^--lr ' && run "$p" 2 "--lr: 0 is out of range" "$@" --lr 0
    echo "$opts" | grep -q '^--threads ' &&
        run "$p" 2 "--threads: 5000 is out of range" "$@" --threads 5000
    # the shared options this program hides are unknown to it
    for o in $shared; do
        echo "$opts" | grep -q -- "^$o " || run "$p" 2 "'$o'" "$@" "$o" 1
    done
    while read -r o meta; do
        case $meta in
        '') run "$p" 2 "$o takes no value" "$@" "$o=yes" ;;
        N | K)
            run "$p" 2 "$o needs a value" "$@" "$o"
            run "$p" 2 "'abc'" "$@" "$o" abc
            run "$p" 2 "'1.5'" "$@" "$o=1.5"
            run "$p" 2 "-5" "$@" "$o" -5
            run "$p" 2 "99999999999999999999999" "$@" "$o" 99999999999999999999999
            ;;
        X | P)
            run "$p" 2 "$o needs a value" "$@" "$o"
            run "$p" 2 "'abc'" "$@" "$o" abc
            run "$p" 2 "'nan'" "$@" "$o" nan
            run "$p" 2 "'1e999'" "$@" "$o" 1e999
            run "$p" 2 "-1" "$@" "$o" -1
            ;;
        NAME | LIST)
            run "$p" 2 "$o needs a value" "$@" "$o"
            run "$p" 2 "$o: empty value" "$@" "$o="
            run "$p" 2 "'bogus'" "$@" "$o" bogus
            ;;
        FILE | DIR)
            run "$p" 2 "$o needs a value" "$@" "$o"
            run "$p" 2 "$o: empty value" "$@" "$o="
            ;;
        *) echo "examples_cli: $p $o: metavariable '$meta' not covered" >&2; exit 99 ;;
        esac
    done <<EOF
$opts
EOF
done
# the program-specific lower and upper bounds
run train_mlp 2 "--hidden: 0 is out of range" --data "$nodata" --hidden 0
run train_autoencoder 2 "--code: 0 is out of range" --data "$nodata" --code 0
run finetune 2 "--per-class: 0 is out of range" --data "$nodata" --per-class 0
run finetune 2 "--pretrain-epochs: 0 is out of range" --data "$nodata" --pretrain-epochs 0
run feature_maps 2 "--image: 10000 is out of range" --data "$nodata" --image 10000
run train_lenet 2 "--momentum: 1 is out of range" --data "$nodata" --momentum 1
run train_lenet 2 "--val: 70000 is out of range" --data "$nodata" --val 70000
run sweep 2 "--lrs: 'x' is not a number" --data "$nodata" --lrs 0.1,x
run sweep 2 "--hiddens: 0 is out of range" --data "$nodata" --hiddens 0
run sweep 2 "--activations: unknown activation 'swish'" --data "$nodata" --activations relu,swish
run sweep 2 "8192 runs is too many (at most 4096)" --data "$nodata" --lrs 1,2,3,4,5,6,7,8 --hiddens 1,2,3,4,5,6,7,8 \
    --dropouts 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7 --repeats 8
# evaluate's checkpoint comes first
run evaluate 2 "unexpected argument" --data "$nodata" ck.h5

# a missing data directory: one line naming it (and how to get the data),
# status 1, and no output directory. draw_tape is left out: without data
# it draws the step on random pixels, by design.
fixture=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)/fuzz/corpus/checkpoint/mlp-4-3-2.h5
for p in train_lenet train_mlp train_autoencoder custom_model finetune feature_maps train_softmax \
    sweep; do
    run "$p" 1 "$nodata/" --data "$nodata"
done
run evaluate 1 "$nodata/" "$fixture" --data "$nodata"

echo "$runs runs, $failed failed"
[ "$failed" -eq 0 ]
