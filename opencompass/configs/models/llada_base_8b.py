# GSAI-ML/LLaDA-8B-Base, as the original release configures it: no chat template (LLaDABaseModel), no
# max_out_len (the canvas comes from gen_length), batch size 1. $LLADA_MODEL_PATH overrides the hub id.
from llada_opencompass import LLaDABaseModel

models = [
    dict(
        type=LLaDABaseModel,
        abbr='llada-8b-base',
        path='GSAI-ML/LLaDA-8B-Base',
        batch_size=1,
        run_cfg=dict(num_gpus=1),
    )
]
