#!/usr/bin/env bash
# lm-eval commands: the paper's settings for LLaDA-8B-Base (REFERENCE.md section 5) and the offline runs of
# the bundled tiny model. Usage:
#   bash eval_llada_lm_eval.sh offline     # bundled model, project tasks, CPU, a few minutes
#   bash eval_llada_lm_eval.sh base        # LLaDA-8B-Base, the paper's table (GPUs; downloads datasets)
# Multi-GPU / multi-process: prefix with `accelerate launch --num_processes N` (add --cpu on CPUs); the
# scores do not depend on the number of processes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export HF_ALLOW_CODE_EVAL=1
LAUNCH=${LAUNCH:-accelerate launch}
MODEL=${MODEL:-GSAI-ML/LLaDA-8B-Base}
OUT=${OUT:-runs/lm_eval}
LIMIT_ARGS=(${LIMIT:+--limit "$LIMIT"})   # LIMIT=N: first N documents of each task (quick checks)

offline() {
  local tiny="${TINY_MODEL:-$ROOT/models/llada-tiny-instruct}"
  # likelihood tasks: multiple choice over held-out arithmetic, Shakespeare perplexity
  python "$ROOT/eval_llada.py" --tasks llada_arith_mc,llada_shakespeare --apply_chat_template \
    --model_args "model_path=$tiny,mc_num=32,batch_size=32,is_check_greedy=False" --output_path "$OUT/tiny_ll" "${LIMIT_ARGS[@]}"
  # generation: held-out arithmetic, semi-autoregressive, 96 tokens in blocks of 32
  python "$ROOT/eval_llada.py" --tasks llada_arith --apply_chat_template \
    --model_args "model_path=$tiny,gen_length=96,steps=96,block_length=32,batch_size=64,confidence_eos_eot_inf=True" \
    --output_path "$OUT/tiny_gen" "${LIMIT_ARGS[@]}"
  # HumanEval: the pipeline and the sandboxed scoring run (the tiny model scores ~0)
  python "$ROOT/eval_llada.py" --tasks llada_humaneval --confirm_run_unsafe_code \
    --model_args "model_path=$tiny,gen_length=64,steps=64,block_length=64,batch_size=32,truncation=True" \
    --output_path "$OUT/tiny_humaneval" "${LIMIT_ARGS[@]}"
}

base() {
  local ppl="model_path=$MODEL,mc_num=128,batch_size=32,is_check_greedy=False"
  # ppl tasks, mc_num 128; cfg per task as in the paper (w/o CFG: drop cfg=...)
  $LAUNCH "$ROOT/eval_llada.py" --tasks gpqa_main_n_shot --num_fewshot 5 --model_args "$ppl,cfg=0.5" --output_path "$OUT/gpqa"
  $LAUNCH "$ROOT/eval_llada.py" --tasks truthfulqa_mc2 --model_args "$ppl,cfg=2.0" --output_path "$OUT/truthfulqa"
  $LAUNCH "$ROOT/eval_llada.py" --tasks arc_challenge --model_args "$ppl,cfg=0.5" --output_path "$OUT/arc_c"
  $LAUNCH "$ROOT/eval_llada.py" --tasks hellaswag --model_args "$ppl,cfg=0.5" --output_path "$OUT/hellaswag"
  $LAUNCH "$ROOT/eval_llada.py" --tasks winogrande --num_fewshot 5 --model_args "$ppl,cfg=0.0" --output_path "$OUT/winogrande"
  $LAUNCH "$ROOT/eval_llada.py" --tasks piqa --model_args "$ppl,cfg=0.5" --output_path "$OUT/piqa"
  # single-token answers: mc_num 1, batch 1, 5-shot
  local one="model_path=$MODEL,mc_num=1,batch_size=1,is_check_greedy=False"
  $LAUNCH "$ROOT/eval_llada.py" --tasks mmlu --num_fewshot 5 --model_args "$one" --output_path "$OUT/mmlu"
  $LAUNCH "$ROOT/eval_llada.py" --tasks cmmlu --num_fewshot 5 --model_args "$one" --output_path "$OUT/cmmlu"
  $LAUNCH "$ROOT/eval_llada.py" --tasks ceval-valid --num_fewshot 5 --model_args "$one" --output_path "$OUT/ceval"
  # generation tasks: gen_length = steps = block_length = 1024 (paper; 256 for the shorter variant)
  local gen="model_path=$MODEL,gen_length=1024,steps=1024,block_length=1024,batch_size=8"
  $LAUNCH "$ROOT/eval_llada.py" --tasks bbh --model_args "$gen" --output_path "$OUT/bbh"
  $LAUNCH "$ROOT/eval_llada.py" --tasks gsm8k --model_args "$gen" --output_path "$OUT/gsm8k"
  $LAUNCH "$ROOT/eval_llada.py" --tasks minerva_math --model_args "$gen" --output_path "$OUT/math"
  $LAUNCH "$ROOT/eval_llada.py" --tasks humaneval --confirm_run_unsafe_code --model_args "$gen" --output_path "$OUT/humaneval"
  $LAUNCH "$ROOT/eval_llada.py" --tasks mbpp --confirm_run_unsafe_code --model_args "$gen" --output_path "$OUT/mbpp"
}

case "${1:-offline}" in
  offline) offline ;;
  base) base ;;
  *) echo "usage: $0 offline|base" >&2; exit 2 ;;
esac
