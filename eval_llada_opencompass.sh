#!/usr/bin/env bash
# OpenCompass runs for LLaDA (wrapper: opencompass/llada_opencompass.py; configs: opencompass/examples/ and
# opencompass/configs/), for the pip-installed OpenCompass (requirements-opencompass.txt).
#
#   bash eval_llada_opencompass.sh tiny       # offline: bundled tiny model, held-out arithmetic (CPU)
#   bash eval_llada_opencompass.sh base       # the original release's LLaDA-8B-Base list (GPU; datasets download)
#   bash eval_llada_opencompass.sh instruct   # its LLaDA-8B-Instruct list
#   bash eval_llada_opencompass.sh llada15    # its LLaDA 1.5 list
#   bash eval_llada_opencompass.sh opencompass/examples/NAME.py [-w DIR] [more opencompass args]
#
# The last form is the original's `python run.py examples/NAME.py -w outputs/...` with this repository's
# path. Environment: OPENCOMPASS (the opencompass command; default: .venv-opencompass/bin/opencompass if
# present, else `opencompass` on PATH), LLADA_MODEL_PATH (a local checkpoint overriding the config's hub id),
# LLADA_OC_LIMIT (first N questions of the offline dataset), WORK_DIR (default runs/opencompass; -w wins).
# After each run the sampling speed of every dataset (forward passes per answer token, answer tokens per second,
# wall time) is gathered into <run folder>/speed.json and printed (eval_speed.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${OPENCOMPASS:-}" ]]; then
  if [[ -x "$ROOT/.venv-opencompass/bin/opencompass" ]]; then OPENCOMPASS="$ROOT/.venv-opencompass/bin/opencompass"
  else OPENCOMPASS=opencompass; fi
fi
# The configs import the wrapper as `llada_opencompass` and the project's modules from the repository root.
export PYTHONPATH="$ROOT/opencompass:$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# run CONFIG WORK_DIR [opencompass args]: OpenCompass writes temporary files under ./tmp, so it runs inside
# the work directory, not the repository. Then the speed table of the run folder it wrote (the newest).
run() {
  local config="$1" work_dir="$2"; shift 2
  mkdir -p "$work_dir"
  work_dir="$(cd "$work_dir" && pwd)"
  (cd "$work_dir" && "$OPENCOMPASS" "$config" -w "$work_dir" "$@")
  local speed
  speed="$(ls -td "$work_dir"/*/speed 2>/dev/null | head -n 1)"
  if [[ -n "$speed" ]]; then
    echo "LLaDA sampling speed ($(dirname "$speed")/speed.json):"
    python3 "$ROOT/eval_speed.py" "$(dirname "$speed")"
  fi
}

# The original release's example lists, in its order.
BASE=(gsm8k_length256_block256 math_length256_block256 humaneval_length256_block256 mbpp_length256_block256
      bbh_length256_block256)
INSTRUCT=(mmlu_length3_block3 mmlupro_length256_block256 hellaswag_length3_block3 arcc_length512_block512
          gsm8k_length512_block512_confidence math_length512_block512_confidence gpqa_length64_block64_confidence
          humaneval_length512_block512_logits mbpp_length256_block256_confidence
          ifeval_length512_block512_confidence gsm8k_length256_block8 math_length512_block64)
LLADA15=(gsm8k_length256_block16_confidence math_length1024_block128_confidence gpqa_length256_block16
         humaneval_length512_block32_confidence mbpp_length512_block32_confidence ifeval_length256_block16_confidence)

run_list() {
  local prefix="$1"; shift
  for name in "$@"; do
    run "$ROOT/opencompass/examples/${prefix}_gen_${name}.py" "${WORK_DIR:-runs/opencompass}/${prefix}_${name}"
  done
}

which="${1:-tiny}"; shift || true
case "$which" in
  tiny) run "$ROOT/opencompass/configs/eval_llada_tiny_arith.py" "${WORK_DIR:-runs/opencompass}" --debug "$@" ;;
  base) run_list llada_base "${BASE[@]}" ;;
  instruct) run_list llada_instruct "${INSTRUCT[@]}" ;;
  llada15) run_list llada_1p5 "${LLADA15[@]}" ;;
  *)
    [[ -f "$which" ]] || { echo "usage: $0 tiny|base|instruct|llada15|CONFIG.py [-w DIR] [opencompass args]" >&2; exit 2; }
    config="$(cd "$(dirname "$which")" && pwd)/$(basename "$which")"
    work_dir="${WORK_DIR:-runs/opencompass}"
    args=()
    while [[ $# -gt 0 ]]; do
      case "$1" in
        -w|--work-dir) work_dir="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
      esac
    done
    run "$config" "$work_dir" "${args[@]}" ;;
esac
