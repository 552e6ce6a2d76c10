#!/usr/bin/env bash
# OpenCompass runs for LLaDA (wrapper: opencompass/llada_opencompass.py; configs: opencompass/configs/).
#
#   bash eval_llada_opencompass.sh tiny       # offline: bundled tiny model, held-out arithmetic (CPU)
#   bash eval_llada_opencompass.sh instruct   # LLaDA-8B-Instruct, the paper's table (GPU, datasets download)
#   bash eval_llada_opencompass.sh llada15    # LLaDA 1.5
#   bash eval_llada_opencompass.sh path/to/config.py [extra opencompass args]
#
# Environment: OPENCOMPASS (the opencompass command; default: .venv-opencompass/bin/opencompass if present,
# else `opencompass` on PATH), LLADA_MODEL_PATH (a local checkpoint overriding the config's hub id),
# LLADA_OC_LIMIT (first N questions of the offline dataset), WORK_DIR (default runs/opencompass).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${OPENCOMPASS:-}" ]]; then
  if [[ -x "$ROOT/.venv-opencompass/bin/opencompass" ]]; then OPENCOMPASS="$ROOT/.venv-opencompass/bin/opencompass"
  else OPENCOMPASS=opencompass; fi
fi
which="${1:-tiny}"; shift || true
case "$which" in
  tiny) config="$ROOT/opencompass/configs/eval_llada_tiny_arith.py"; extra=(--debug) ;;
  instruct) config="$ROOT/opencompass/configs/eval_llada_instruct.py"; extra=() ;;
  llada15) config="$ROOT/opencompass/configs/eval_llada_1_5.py"; extra=() ;;
  *) config="$(cd "$(dirname "$which")" && pwd)/$(basename "$which")"; extra=() ;;
esac
# OpenCompass writes temporary files under ./tmp: run inside the work directory, not the repository.
work_dir="${WORK_DIR:-runs/opencompass}"
mkdir -p "$work_dir"
work_dir="$(cd "$work_dir" && pwd)"
cd "$work_dir"
# The configs import the wrapper as `llada_opencompass` and the project's modules from the repository root.
export PYTHONPATH="$ROOT/opencompass:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$OPENCOMPASS" "$config" -w "$work_dir" "${extra[@]}" "$@"
