#!/bin/bash
# Runs every example for a few steps under valgrind memcheck, on the real
# binaries (the examples are linked with -no-install, so there is no
# libtool wrapper script in the way): 0 errors and 0 bytes definitely or
# indirectly lost, or this script fails. Needs a built tree and the data.
#   tools/valgrind_examples.sh [BUILDDIR]
set -u
build=${1:-.}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect -q)
quick=(--epochs 1 --max-steps 3 --limit 600 --threads 2)
runs=(
  "train_lenet ${quick[*]} --out $out/lenet"
  "train_mlp ${quick[*]} --out $out/mlp"
  "train_autoencoder ${quick[*]} --out $out/ae"
  "custom_model ${quick[*]} --out $out/custom"
  "train_lenet ${quick[*]} --out $out/lenet --resume $out/lenet/checkpoint.h5 --epochs 2"
  "evaluate $out/lenet/checkpoint.h5 --limit 300 --logits $out/logits.csv"
  "finetune --epochs 1 --max-steps 2 --pretrain-epochs 1 --limit 2000 --out $out/ft"
  "draw_tape --batch 8 --out $out/dot"
  "feature_maps --limit 300 --checkpoint $out/lenet/checkpoint.h5 --out $out/fm"
  "train_softmax ${quick[*]} --out $out/softmax"
  "sweep --epochs 1 --limit 600 --lrs 0.1 --activations relu --dropouts 0 --threads 2 --out $out/sweep"
  "spirals 20"
)
failed=0
for r in "${runs[@]}"; do
  read -r -a args <<< "$r"
  prog="$build/examples/${args[0]}"
  start=$(date +%s)
  "${vg[@]}" "$prog" "${args[@]:1}" > "$out/log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    printf 'valgrind clean  %-70s %3ds\n' "$r" $(( $(date +%s) - start ))
  else
    printf 'valgrind FAILED %-70s (exit %d)\n' "$r" "$rc"
    grep -E '==[0-9]+==' "$out/log" | head -30
    failed=$((failed + 1))
  fi
done
echo "$(( ${#runs[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
