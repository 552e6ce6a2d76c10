#!/usr/bin/env bash
# Reproduce the bundled checkpoint models/llada-tiny-instruct on a 2-core CPU (about 2 hours 15 minutes):
# build the data, pretrain, then SFT with pretraining replay. Every stage resumes from its newest checkpoint, so
# rerunning after an interruption continues. bf16 autocast uses the CPU's AMX/AVX-512 units where present
# (1.4x faster here); MIXED_PRECISION=no trains in float32.
# OBJECTIVE=ar RUN=runs/tiny-ar trains the autoregressive twin (same size, data and steps) instead.
# SFT_STEPS sets the SFT length (default 6000; the previous bundled model and models/tiny-ar-twin used 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTIVE=${OBJECTIVE:-diffusion}
RUN=${RUN:-runs/tiny}
SFT_STEPS=${SFT_STEPS:-6000}
COMMON=(--objective "$OBJECTIVE" --seq_len 640 --mixed_precision "${MIXED_PRECISION:-bf16}" --threads "${THREADS:-2}"
        --save_every 250 --eval_every 500 --resume)
python data/build_data.py
python train.py --stage pretrain --data data/pretrain.jsonl --tokenizer data/tokenizer --out "$RUN-pretrain" \
  --d_model 192 --n_layers 6 --n_heads 4 --batch_size 8 --max_steps 4000 --lr 2e-3 --warmup_steps 200 \
  "${COMMON[@]}" "$@"
python train.py --stage sft --data data/sft.jsonl --init "$RUN-pretrain/final" --out "$RUN-sft" \
  --batch_size 64 --max_steps "$SFT_STEPS" --lr 1e-3 --warmup_steps 100 --on_bad_data skip \
  --replay_data data/pretrain.jsonl --replay_every 8 --replay_batch_size 8 --replay_weight 0.1 "${COMMON[@]}" "$@"
if [ "$OBJECTIVE" = diffusion ]; then  # new weights and logs into the bundled directories; model cards stay
  cp "$RUN-pretrain/final/"* models/llada-tiny-base/
  cp "$RUN-sft/final/"* models/llada-tiny-instruct/
  for stage in pretrain sft; do
    cp "$RUN-$stage/log.csv" "models/llada-tiny-instruct/${stage}_log.csv"
    cp "$RUN-$stage/loss.png" "models/llada-tiny-instruct/${stage}_loss.png"
  done
fi
