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

# run_cmd PROG WANT_STATUS NEEDLE COMMAND...: runs COMMAND (PROG, or a
# wrapper that execs it) in a fresh empty directory and checks the above
run_cmd() {
    prog=$1 want=$2 needle=$3
    shift 3
    runs=$((runs + 1))
    rm -rf "$work/cwd" && mkdir "$work/cwd" || exit 99
    (cd "$work/cwd" && exec timeout 60 "$@") < /dev/null > "$work/out" 2> "$work/err"
    rc=$?
    what="$prog ${*#"$bindir/$prog"}"
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
    # while running, the error may follow progress lines
    grep "^$prog: " "$work/err" | grep -q -F -- "$needle" ||
        fail "$what: no line of stderr starts with '$prog: ' and says '$needle'"
    if [ "$want" -eq 2 ]; then
        head -n 1 "$work/err" | grep -q "^$prog: " ||
            fail "$what: the first line of stderr does not start with '$prog: '"
        grep -q '^usage: ' "$work/err" || fail "$what: no usage text on stderr"
        [ ! -s "$work/out" ] || fail "$what: wrote to stdout"
    fi
}

# run PROG WANT_STATUS NEEDLE ARGS...: the example itself
run() {
    prog=$1 want=$2 needle=$3
    shift 3
    run_cmd "$prog" "$want" "$needle" "$bindir/$prog" "$@"
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
    echo "$opts" | grep -q '^--lr ' && run "$p" 2 "--lr: 1e+30 is out of range (at most 1e+18)" "$@" --lr 1e30
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

# ------------------------------------------------------ while running
# Failures after a run has started, on a tiny MNIST-format set (200
# training and 100 test images of noise, labels 0-9 in turn) so that a
# run takes a fraction of a second: unwritable outputs, a full disk, bad
# checkpoints. Status 1 and "PROG: " with the reason; outputs go to
# $work/run-*, so the working directory must stay empty.

# idx FILE MAGIC COUNT [ROWS COLS]: an IDX header and COUNT items of
# random pixels (images) or the labels 0, 1, ..., 9, 0, ... (labels)
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))"; printf "\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }
idx() {
    {
        be32 "$2" && be32 "$3"
        if [ $# -eq 5 ]; then
            be32 "$4" && be32 "$5" && head -c $(($3 * $4 * $5)) /dev/urandom
        else
            i=0
            while [ $i -lt "$3" ]; do printf "\\$(printf %03o $((i % 10)))"; i=$((i + 1)); done
        fi
    } > "$1"
}
fake=$work/fake-mnist
mkdir "$fake" || exit 99
idx "$fake/train-images-idx3-ubyte" 2051 200 28 28
idx "$fake/train-labels-idx1-ubyte" 2049 200
idx "$fake/t10k-images-idx3-ubyte" 2051 100 28 28
idx "$fake/t10k-labels-idx1-ubyte" 2049 100
q="--data $fake --epochs 1 --batch 10"
# a good run first: its checkpoint is the LeNet-5 some cases need
(cd "$work" && "$bindir/train_lenet" $q --out "$work/run-ok" > /dev/null 2>&1) &&
    [ -f "$work/run-ok/checkpoint.h5" ] || {
    echo "examples_cli: train_lenet on the tiny set failed; cannot test failures while running" >&2
    exit 99
}
ck=$work/run-ok/checkpoint.h5
printf 'not a checkpoint\n' > "$work/text"
: > "$work/empty.h5"
head -c 5000 "$ck" > "$work/cut.h5"

run train_lenet 1 "cannot create directory '/proc/x'" $q --out /proc/x
run train_lenet 1 "'$work/text' exists and is not a directory" $q --out "$work/text"
run train_lenet 1 "checkpoint_save: $work/nodir/x.h5: directory $work/nodir: No such file or directory" \
    $q --out "$work/run-1" --save "$work/nodir/x.h5"
run train_lenet 1 "checkpoint_save: $work is a directory" $q --out "$work/run-2" --save "$work"
# a file-size limit of 20 blocks (10 KB in dash, 20 KB in bash): the
# checkpoint (250 KB) cannot be written, and SIGXFSZ is ignored
run_cmd train_lenet 1 "writing failed (File too large)" \
    sh -c 'ulimit -f 20 && exec "$@"' sh "$bindir/train_lenet" $q --out "$work/run-3"
run train_lenet 1 "cannot resume: checkpoint_load: $work/no.h5: cannot open" $q --out "$work/run-4" \
    --resume "$work/no.h5"
run train_lenet 1 "checkpoint of another architecture" $q --out "$work/run-5" --resume "$fixture"
# a run that cannot resume leaves no output directory behind either
for d in run-4 run-5; do
    [ ! -e "$work/$d" ] || fail "train_lenet: a failed --resume left $d behind"
done
run evaluate 1 "checkpoint_load_model: $work/no.h5: cannot open" "$work/no.h5" --data "$fake"
run evaluate 1 "checkpoint_load_model: $work/empty.h5: empty file" "$work/empty.h5" --data "$fake"
run evaluate 1 "$work/text: not a wengert checkpoint or HDF5 file" "$work/text" --data "$fake"
run evaluate 1 "$work/cut.h5: truncated or extended" "$work/cut.h5" --data "$fake"
run evaluate 1 "evaluation: matmul_nt: [100 x 784] @ [3 x 4]" "$fixture" --data "$fake"
run evaluate 1 "cannot write /proc/x/l.csv" "$ck" --data "$fake" --logits /proc/x/l.csv
run feature_maps 1 "the checkpoint is not a LeNet-5" --data "$fake" --checkpoint "$fixture" \
    --out "$work/run-6"
run feature_maps 1 "$work/text: not a wengert checkpoint or HDF5 file" --data "$fake" \
    --checkpoint "$work/text" --out "$work/run-7"
run finetune 1 "checkpoint_load: $work/no.h5: cannot open" --data "$fake" --per-class 5 \
    --pretrained "$work/no.h5" --out "$work/run-8"
run finetune 1 "no parameter matches the model" --data "$fake" --per-class 5 \
    --pretrained "$fixture" --out "$work/run-9"

# read-only and full file systems: as root, a tmpfs mounted read-only, or
# of 128 KiB, in a private mount namespace; as another user, a directory
# without write permission (the full disk is then not tested, and neither
# case is for root where mount namespaces are not allowed: it says so)
mnt=$work/mnt
mkdir "$mnt" || exit 99
if [ "$(id -u)" -eq 0 ] && unshare -m true 2> /dev/null; then
    # sh -c "$on_tmpfs" OPTIONS DIR COMMAND...: COMMAND with a tmpfs on DIR
    on_tmpfs='mount --make-rprivate / && mount -t tmpfs -o "$0" tmpfs "$1" && shift && exec "$@"'
    run_cmd train_lenet 1 "cannot create directory '$mnt/sub': $mnt/sub: Read-only file system" \
        unshare -m sh -c "$on_tmpfs" ro "$mnt" "$bindir/train_lenet" $q --out "$mnt/sub"
    run_cmd train_lenet 1 "cannot open '$mnt/metrics.csv' for writing: Read-only file system" \
        unshare -m sh -c "$on_tmpfs" ro "$mnt" "$bindir/train_lenet" $q --out "$mnt"
    run_cmd train_lenet 1 "checkpoint_save: $mnt/checkpoint.h5: writing failed (No space left on device)" \
        unshare -m sh -c "$on_tmpfs" size=128k "$mnt" "$bindir/train_lenet" $q --out "$mnt"
elif [ "$(id -u)" -ne 0 ]; then
    chmod 555 "$mnt"
    run train_lenet 1 "cannot create directory '$mnt/sub': $mnt/sub: Permission denied" $q \
        --out "$mnt/sub"
    run train_lenet 1 "cannot open '$mnt/metrics.csv' for writing: Permission denied" $q \
        --out "$mnt"
    chmod 755 "$mnt"
    echo "examples_cli: not root: the full disk (a small tmpfs) is not tested"
else # root bypasses permissions, and cannot mount here
    echo "examples_cli: root without mount namespaces: read-only and full file systems not tested"
fi

echo "$runs runs, $failed failed"
[ "$failed" -eq 0 ]
