#!/usr/bin/env bash
# Re-id ablation at an equal, reduced budget (500 steps each): full method, no distillation,
# no BN-parameter regulariser. Each run is evaluated on the held-out identities.
# Usage: scripts/reid_ablation.sh [DATA] [OUT]   (defaults: data/reid-fleet/reid runs/ablation)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-data/reid-fleet/reid}"
out="${2:-runs/ablation}"
rw=.venv/bin/roadwatch
for variant in full no-distillation no-bn-reg; do
  flags=()
  [ "$variant" = full ] || flags=("--$variant")
  $rw train reid --data "$data" --out "$out/$variant" --steps 500 "${flags[@]}" --json | tail -1 >"$out-$variant-train.json"
  $rw eval reid --data "$data" --models "$out/$variant" --json | tail -1 >"$out-$variant-eval.json"
  echo "$variant: $(cat "$out-$variant-eval.json")"
done
