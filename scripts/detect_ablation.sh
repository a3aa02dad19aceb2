#!/usr/bin/env bash
# Detector ablation at an equal, reduced budget (STEPS each, default 1500): full method, plain
# FPN instead of the balanced pyramid, random instead of IoU-balanced negative sampling. Each
# run ends with the precise-BN step and is evaluated in torch on the held-out frames, with the
# second pass and without it (small_plate_recall vs small_plate_recall_single_pass).
# Usage: scripts/detect_ablation.sh [STEPS] [OUT]   (defaults: 1500 runs/detect-ablation)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${1:-1500}"
out="${2:-runs/detect-ablation}"
rw=.venv/bin/roadwatch
mkdir -p "$out"
for variant in full no-balanced-pyramid random-sampling; do
  flags=()
  [ "$variant" = full ] || flags=("--$variant")
  $rw train detector --out "$out/$variant" --steps "$steps" "${flags[@]}" --json | tail -1 >"$out/$variant-train.json"
  $rw eval detect --checkpoint "$out/$variant/checkpoint.pt" --json | tail -1 >"$out/$variant-eval.json"
  echo "$variant: $(cat "$out/$variant-eval.json")"
done
