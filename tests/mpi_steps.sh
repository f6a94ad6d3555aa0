#!/bin/sh
# Data-parallel LeNet-5 for 300 steps with 2, 1 and 3 ranks: parameters
# bitwise equal across ranks after every step, and equal to one
# process's within tests/mpi_dist.c's tolerance (1 rank: bitwise).
. "$srcdir/tests/mpi_common.sh"
for np in 2 1 3; do
    echo "--- mpirun -np $np tests/mpi_dist steps"
    mpi -np $np tests/mpi_dist steps || fail "$np ranks (status $?)"
done
