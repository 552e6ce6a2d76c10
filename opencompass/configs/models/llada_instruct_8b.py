# GSAI-ML/LLaDA-8B-Instruct, as the original release configures it (its path was a local copy; here the hub
# id, and $LLADA_MODEL_PATH overrides it). max_out_len does not change the canvas: gen_length does.
from llada_opencompass import LLaDAModel

models = [
    dict(
        type=LLaDAModel,
        abbr='llada-8b-instruct',
        path='GSAI-ML/LLaDA-8B-Instruct',
        max_out_len=1024,
        batch_size=1,
        run_cfg=dict(num_gpus=1),
    )
]
