# Sourced by the tests/mpi_*.sh scripts of make check-mpi (run from the
# build directory by automake's harness, which sets srcdir and MPIRUN).
set -u
: "${MPIRUN:=mpirun}"
# CI runs as root; containers often forbid the cross-memory attach that
# OpenMPI's shared-memory transport uses for large messages
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# ranks share the cores: threads that spin while waiting would starve them
export OMP_WAIT_POLICY=passive
data=${WG_DATA_DIR:-/usr/share/datasets/fashion-mnist}
[ -d "$data" ] || { echo "SKIP: no Fashion-MNIST in $data"; exit 77; }

# mpirun with a time limit: a hang must fail the test, not stall CI
# (timeout's status 124, or 137 after the kill)
mpi() { timeout -k 10 "${MPI_TIMEOUT:-300}" "$MPIRUN" --oversubscribe "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
