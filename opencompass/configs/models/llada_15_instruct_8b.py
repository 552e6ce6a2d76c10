# GSAI-ML/LLaDA-1.5 (LLaDA-8B-Instruct aligned with VRPO), as the original release configures it.
# $LLADA_MODEL_PATH overrides the hub id.
from llada_opencompass import LLaDAModel

models = [
    dict(
        type=LLaDAModel,
        abbr='llada-1.5-8b-instruct',
        path='GSAI-ML/LLaDA-1.5',
        max_out_len=1024,
        batch_size=1,
        run_cfg=dict(num_gpus=1),
    )
]
