#!/bin/sh
# The hand-vectorised kernels (vector math in autograd/vmath.c, the direct
# convolution in ops/conv2d_direct.c, whose portable counterpart is
# ops/conv2d_gemm.c, max-pooling's 2x2 rows in ops/maxpool2d.c, the
# element-wise loops of autograd/isa.h) have a path per instruction set:
# AVX-512, AVX2 + FMA, and the portable one. A
# machine takes only its best, so this runs the gradient checks, the
# PyTorch references, the thread-count determinism test, the vector math
# test and the basics (max-pooling's tie and NaN rules) again with the lower paths forced through WG_CPU: every path
# the CPU can execute gets checked. (Where the CPU lacks AVX2, WG_CPU=avx2
# runs the portable path again.)
set -u
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail=0
for cpu in avx2 generic; do
    for t in test_gradcheck_ops test_gradcheck_float test_torch_ref test_threads test_vmath \
             test_basics test_data test_optim; do
        if WG_CPU=$cpu ./tests/$t >"$log" 2>&1; then
            echo "ok   WG_CPU=$cpu tests/$t"
        else
            echo "FAIL WG_CPU=$cpu tests/$t"
            cat "$log"
            fail=1
        fi
    done
done
# the cap must take effect, or the runs above checked nothing new
WG_CPU=generic ./tests/test_vmath 2>&1 | grep -q "vector math libm" ||
    { echo "FAIL WG_CPU=generic did not select the portable path"; fail=1; }
WG_CPU=avx2 ./tests/test_vmath 2>&1 | grep -q "AVX-512" &&
    { echo "FAIL WG_CPU=avx2 still selected AVX-512"; fail=1; }
exit $fail
