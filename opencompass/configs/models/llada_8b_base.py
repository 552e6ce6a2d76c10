# GSAI-ML/LLaDA-8B-Base: no chat template. Path: $LLADA_MODEL_PATH or the hub id.
from llada_opencompass import LLaDAModel

models = [
    dict(
        type=LLaDAModel,
        abbr='llada-8b-base',
        path='GSAI-ML/LLaDA-8B-Base',  # $LLADA_MODEL_PATH overrides
        chat=False,
        max_seq_len=4096,
        gen_steps=256,
        gen_length=256,
        gen_blocksize=256,
        batch_size_=1,
        batch_size=1,
        max_out_len=256,
        run_cfg=dict(num_gpus=1),
    )
]
