#!/bin/sh
# An error on one rank stops every rank, with its message and without a
# hang: a NaN or a bad argument in a step (tests/mpi_dist.c), and in
# train_lenet a checkpoint or data directory that only rank 1 lacks
# (mpirun's MPMD form gives the two ranks different arguments).
. "$srcdir/tests/mpi_common.sh"
mpi -np 2 tests/mpi_dist fail || fail "mpi_dist fail (status $?)"

opts="--threads 1 --limit 600 --val 100 --epochs 1"
mpi -np 2 examples/train_lenet $opts --out "$tmp/a" >"$tmp/a.txt" 2>&1 ||
    { cat "$tmp/a.txt"; fail "the 2-rank run that writes the checkpoint"; }
[ "$(grep -c '^test accuracy:' "$tmp/a.txt")" -eq 1 ] ||
    { cat "$tmp/a.txt"; fail "expected one summary, from rank 0 alone"; }

# expects: the MPMD run $1 fails (not by timeout) and its output has $2 and $3
stops() {
    out="$tmp/out.txt"
    eval "mpi $1" >"$out" 2>&1
    rc=$?
    cat "$out"
    [ $rc -ne 0 ] || fail "the run succeeded"
    [ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "the run hung (timeout)"
    grep -q "$2" "$out" || fail "no '$2' in the output"
    grep -q "$3" "$out" || fail "no '$3' in the output"
    ! grep -q '^test accuracy:' "$out" || fail "the run went on to the end"
}
echo "--- a checkpoint that rank 1 cannot read"
stops "-np 1 examples/train_lenet $opts --out $tmp/b --resume $tmp/a/checkpoint.h5 : \
       -np 1 examples/train_lenet $opts --out $tmp/b --resume $tmp/missing.h5" \
    "cannot resume: .*missing.h5" "cannot resume on another rank"
echo "--- a data directory that rank 1 cannot read"
stops "-np 1 examples/train_lenet $opts --out $tmp/c : \
       -np 1 examples/train_lenet $opts --out $tmp/c --data $tmp/nowhere" \
    "nowhere" "another rank could not load the data"
echo "PASS"
