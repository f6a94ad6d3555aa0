#!/bin/bash
# Shows that the gradient checks catch wrong backwards: applies one small
# mutation at a time (a term scaled by 1.01, a sign flipped) to a copy of
# the sources, rebuilds, and expects the double-precision gradient check
# (and the PyTorch comparison) to fail. Prints one line per mutant and
# exits non-zero if any mutant survives.
#   tools/mutants.sh            (takes a few minutes; needs a configured tree)
# The conv2d_direct.c mutants are exercised only on a CPU with AVX2 (the
# direct kernels' path; the strided cases exercise conv2d_gemm.c).
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$src" ls-files -z | (cd "$src" && xargs -0 cp --parents -t "$work")
cp -r "$src/tests/data" "$work/tests/" 2>/dev/null
cd "$work" && autoreconf -fi >/dev/null 2>&1 && ./configure -q >/dev/null || exit 2
make -j2 >/dev/null 2>&1 || exit 2

# file | sed expression | what it does
mutants=(
  "ops/sigmoid.c|s/gx, i, dy\[i\] \* y\[i\] \* (1 - y\[i\])/gx, i, (i == 0 ? 1.01 : 1) * dy[i] * y[i] * (1 - y[i])/|sigmoid: one element's gradient x1.01"
  "ops/tanh.c|s/dy\[i\] \* (1 - y\[i\] \* y\[i\])/dy[i] * (1.01 - y[i] * y[i])/|tanh: 1 - y^2 becomes 1.01 - y^2"
  "ops/relu.c|s/pass_positive(y\[i\], dy\[i\])/pass_positive(y[i], (i == 1 ? 1.01 : 1) * dy[i])/|relu: one element x1.01"
  "ops/conv2d.h|s/dw\[k\] += dwc\[ch \* wsize + k\];/dw[k] += (k == 3 ? 1.01 : 1) * dwc[ch * wsize + k];/|conv2d (both paths): one weight-gradient element x1.01"
  "ops/conv2d.c|s/db\[o\] += (wg_real)s;/db[o] -= (wg_real)s;/|conv2d: bias gradient sign flipped"
  "ops/conv2d_gemm.c|s/dst\[q \* g->sw + off\] += src\[q\];/dst[q * g->sw + off] += (q == lo ? 1.01 : 1) * src[q];/|conv2d: input gradient at the left edge x1.01"
  "ops/conv2d_direct.c|s/acc\[b\] += wr\[b\] \* xv;/acc[b] += (b == 0 ? (wg_real)1.01 : 1) * wr[b] * xv;/|conv2d direct kernels: the first channel of a block x1.01"
  "ops/conv2d_direct.c|s/copy_run)(dxn + ((int64_t)c \* g->h + r) \* g->w,/copy_run)(dxn + ((int64_t)c * g->h + r) * g->w + (r == 1),/|conv2d direct input gradient: a row shifted by one"
  "ops/conv2d_direct.c|s/acc\[b\]\[k\] += d\[b\] \* xv;/acc[b][k] += (k == 1 ? (wg_real)1.01 : 1) * d[b] * xv;/|conv2d direct weight gradient: the second tap of a block x1.01"
  "ops/maxpool2d.c|s/dx\[p \* hw + arg\[p \* ohw + k\]\] += dy\[p \* ohw + k\];/dx[p * hw + arg[p * ohw + k]] += (k == 0 ? 1.01 : 1) * dy[p * ohw + k];/|maxpool2d: first window x1.01"
  "ops/matmul.c|s/wg_gemm(!ta, false, k, nn, m, 1, A->data/wg_gemm(!ta, false, k, nn, m, 1.01, A->data/|matmul: dB scaled by 1.01"
  "ops/conv2d_direct.c|s/(acc ? add_run : copy_run)/(acc ? add_run : add_run)/|conv2d direct: input gradient added into a fresh (unzeroed) buffer"
  "ops/maxpool2d.c|s/if (!acc)/if (0)/|maxpool2d: a fresh input gradient not zeroed before the scatter"
  "ops/mse.c|s/gq\[i\] -= d;/gq[i] += d;/|mse: target gradient sign flipped"
  "ops/softmax_cross_entropy.c|s/gi\[s->labels\[i\]\] -= g;/gi[s->labels[i]] -= 1.01 * g;/|softmax_cross_entropy: onehot term x1.01"
  "ops/broadcast.c|s/g\[j\] += coef \* dy\[j\];/g[j] += (j == 0 ? 1.01 : 1) * coef * dy[j];/|add: broadcast gradient (contiguous rows), one column x1.01"
  "ops/broadcast.c|s/gr\[j \* ix\] += coef \* dyr\[j\];/gr[j * ix] += (j == 0 ? 1.01 : 1) * coef * dyr[j];/|add: broadcast gradient (strided), one column x1.01"
  "ops/mean.c|s/gx\[i\] += g;/gx[i] += (i == 0 ? 1.01 : 1) * g;/|mean: one element x1.01"
  "ops/reshape.c|s/gx, i, dy\[i\])/gx, i, (i == 2 ? 1.01 : 1) * dy[i])/|reshape: one element x1.01"
  "ops/ops.h|s/(g)\[i\] = (expr);/(g)[i] += (expr);/|element-wise backwards add into a fresh (unzeroed) gradient buffer"
  "ops/broadcast.c|s/g\[j\] = coef \* dy\[j\];/g[j] = (j == 0 ? 1.01 : 1) * coef * dy[j];/|add: gradient stored into a fresh buffer, one column x1.01"
)
survivors=0
for m in "${mutants[@]}"; do
  IFS='|' read -r file expr what <<< "$m"
  cp "$file" "$file.orig"
  sed -i "$expr" "$file"
  if cmp -s "$file" "$file.orig"; then
    echo "NOT APPLIED  $what (pattern out of date)"; survivors=$((survivors + 1))
  else
    make -j2 tests/test_gradcheck_ops tests/test_torch_ref tests/test_models >/dev/null 2>&1
    g="passed"; ./tests/test_gradcheck_ops >/dev/null 2>&1 || g="FAILED"
    r="passed"; WG_TEST_DATA=tests/data ./tests/test_torch_ref >/dev/null 2>&1 || r="FAILED"
    m="passed"; ./tests/test_models >/dev/null 2>&1 || m="FAILED"
    if [ "$g" = FAILED ]; then status="killed  "; else status="SURVIVED"; survivors=$((survivors + 1)); fi
    printf '%s  %-58s ops gradcheck %s, torch reference %s, model gradchecks %s\n' \
      "$status" "$what" "$g" "$r" "$m"
  fi
  mv "$file.orig" "$file"
done
echo "$survivors mutant(s) survived"
[ "$survivors" -eq 0 ]
