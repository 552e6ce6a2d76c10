#!/usr/bin/env bash
# Reproduce the bundled checkpoint models/llada-tiny-instruct on a 2-core CPU: build the data, pretrain,
# then SFT. Every stage resumes from its newest checkpoint, so rerunning after an interruption continues.
# OBJECTIVE=ar RUN=runs/tiny-ar trains the autoregressive twin (same size, data and steps) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTIVE=${OBJECTIVE:-diffusion}
RUN=${RUN:-runs/tiny}
python data/build_data.py
python train.py --stage pretrain --objective "$OBJECTIVE" --data data/pretrain.jsonl --tokenizer data/tokenizer \
  --out "$RUN-pretrain" --d_model 192 --n_layers 6 --n_heads 4 --seq_len 256 --batch_size 16 \
  --max_steps 1500 --lr 2e-3 --warmup_steps 200 --save_every 250 --eval_every 250 --threads ${THREADS:-1} --resume "$@"
python train.py --stage sft --objective "$OBJECTIVE" --data data/sft.jsonl --init "$RUN-pretrain/final" \
  --out "$RUN-sft" --seq_len 256 --batch_size 64 --max_steps 3000 --lr 1e-3 --warmup_steps 100 \
  --save_every 250 --eval_every 250 --on_bad_data skip --threads ${THREADS:-1} --resume "$@"
if [ "$OBJECTIVE" = diffusion ]; then
  rm -rf models/llada-tiny-instruct.tmp
  cp -r "$RUN-sft/final" models/llada-tiny-instruct.tmp
  rm -rf models/llada-tiny-instruct && mv models/llada-tiny-instruct.tmp models/llada-tiny-instruct
fi
