#!/usr/bin/env bash
# lm-eval commands: the paper's settings for LLaDA-8B-Base (the release's eval_llada_lm_eval.sh) and the
# offline runs of the bundled tiny model. Usage:
#   bash eval_llada_lm_eval.sh offline     # bundled model, project tasks, CPU, a few minutes
#   bash eval_llada_lm_eval.sh base        # LLaDA-8B-Base, the paper's table (GPUs; downloads datasets)
# Multi-GPU / multi-process: prefix with `accelerate launch --num_processes N` (add --cpu on CPUs); the
# scores do not depend on the number of processes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Dependencies: pip install -r requirements-eval.txt (lm-eval, and math_verify, sympy and
# antlr4-python3-runtime==4.11 for the math tasks, as the release installs them).
# As the release: datasets with loading scripts may run their code. HF_ALLOW_CODE_EVAL=1 (running
# model-written code) is set only on the code tasks' commands below, not for every task.
export HF_DATASETS_TRUST_REMOTE_CODE=true
LAUNCH=${LAUNCH:-accelerate launch}
MODEL=${MODEL:-GSAI-ML/LLaDA-8B-Base}
# GEN: the generation canvas, gen_length = steps = block_length (the paper's 1024; the release also reports
# 512 and 256)
GEN=${GEN:-1024}
OUT=${OUT:-runs/lm_eval}
LIMIT_ARGS=(${LIMIT:+--limit "$LIMIT"})   # LIMIT=N: first N documents of each task (quick checks)

offline() {
  local tiny="${TINY_MODEL:-$ROOT/models/llada-tiny-instruct}"
  # likelihood tasks: multiple choice over held-out arithmetic, Shakespeare perplexity
  python "$ROOT/eval_llada.py" --tasks llada_arith_mc,llada_shakespeare --apply_chat_template \
    --model_args "model_path=$tiny,mc_num=32,batch_size=32,is_check_greedy=False" \
    --output_path "$OUT/tiny_ll" "${LIMIT_ARGS[@]}"
  # generation: held-out arithmetic (exact integer, and math_verify), semi-autoregressive, 96 tokens in blocks
  # of 32; cut_at_eos: the answer ends at its first EOS (3 of the 300 answers write text after it; with the
  # release's rule, which keeps that text, exact match is 82.7% instead of 83.3%)
  local gen="gen_length=96,steps=96,block_length=32,batch_size=64,confidence_eos_eot_inf=True,cut_at_eos=True"
  python "$ROOT/eval_llada.py" --tasks llada_arith,llada_math --apply_chat_template \
    --model_args "model_path=$tiny,$gen" \
    --output_path "$OUT/tiny_gen" "${LIMIT_ARGS[@]}"
  # HumanEval: the pipeline and the guarded scoring run (the tiny model scores ~0)
  local code="gen_length=64,steps=64,block_length=64,batch_size=32,truncation=True,cut_at_eos=True"
  HF_ALLOW_CODE_EVAL=1 python "$ROOT/eval_llada.py" --tasks llada_humaneval --confirm_run_unsafe_code \
    --model_args "model_path=$tiny,$code" \
    --output_path "$OUT/tiny_humaneval" "${LIMIT_ARGS[@]}"
}

base() {
  # The release's commands for LLaDA-8B-Base (its eval_llada_lm_eval.sh), flag for flag. --batch_size stays on
  # the command line as there: it is the Monte Carlo batch of the likelihood tasks (mc_num / batch_size rounds,
  # stratified within a batch, so 8 and 32 are different estimators); the generation tasks take lm-eval's
  # default 1 (one question at a time, unpadded). The paper's table is w/o CFG (cfg=0.0); the cfg per task
  # below gives the release's w/ CFG numbers.
  task() {
    local name=$1; shift
    $LAUNCH "$ROOT/eval_llada.py" --tasks "$name" --model llada_dist "$@" --output_path "$OUT/$name"
  }
  local ll="is_check_greedy=False,mc_num=128"
  task gpqa_main_n_shot --num_fewshot 5 --batch_size 8 --model_args "model_path=$MODEL,cfg=0.5,$ll"
  task truthfulqa_mc2 --num_fewshot 0 --batch_size 8 --model_args "model_path=$MODEL,cfg=2.0,$ll"
  task arc_challenge --num_fewshot 0 --batch_size 8 --model_args "model_path=$MODEL,cfg=0.5,$ll"
  task hellaswag --num_fewshot 0 --batch_size 8 --model_args "model_path=$MODEL,cfg=0.5,$ll"
  task winogrande --num_fewshot 5 --batch_size 8 --model_args "model_path=$MODEL,cfg=0.0,$ll"
  task piqa --num_fewshot 0 --batch_size 8 --model_args "model_path=$MODEL,cfg=0.5,$ll"
  # single-token answers: one Monte Carlo sample is exact (the one answer token is always the masked one)
  local one="cfg=0.0,is_check_greedy=False,mc_num=1"
  task mmlu --num_fewshot 5 --batch_size 1 --model_args "model_path=$MODEL,$one"
  task cmmlu --num_fewshot 5 --batch_size 1 --model_args "model_path=$MODEL,$one"
  task ceval-valid --num_fewshot 5 --batch_size 1 --model_args "model_path=$MODEL,$one"
  # generation: the whole canvas of gen_length tokens whatever a task's max_gen_toks says (llada_dist's default)
  local gen="model_path=$MODEL,gen_length=$GEN,steps=$GEN,block_length=$GEN"
  task bbh --model_args "$gen"
  task gsm8k --model_args "$gen"
  task minerva_math --model_args "$gen"
  HF_ALLOW_CODE_EVAL=1 task humaneval --confirm_run_unsafe_code --model_args "$gen"
  HF_ALLOW_CODE_EVAL=1 task mbpp --confirm_run_unsafe_code --model_args "$gen"
}

case "${1:-offline}" in
  offline) offline ;;
  base) base ;;
  *) echo "usage: $0 offline|base" >&2; exit 2 ;;
esac
