# GSAI-ML/LLaDA-1.5 (VRPO-aligned LLaDA-8B-Instruct). Path: $LLADA_MODEL_PATH or the hub id.
# Default: the GSM8K / GPQA / IFEval setting of the paper (length 256, block 16).
from llada_opencompass import LLaDAModel

models = [
    dict(
        type=LLaDAModel,
        abbr='llada-1.5-8b',
        path='GSAI-ML/LLaDA-1.5',  # $LLADA_MODEL_PATH overrides
        max_seq_len=4096,
        gen_steps=256,
        gen_length=256,
        gen_blocksize=16,
        batch_size_=1,
        batch_size=1,
        max_out_len=256,
        run_cfg=dict(num_gpus=1),
    )
]
