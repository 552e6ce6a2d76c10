# GSAI-ML/LLaDA-8B-Instruct. Path: $LLADA_MODEL_PATH (a local copy) or the hub id.
# The example configs (eval_llada_instruct_*.py) override gen_length / gen_steps / gen_blocksize per
# dataset as in the paper's table; these are the pure-diffusion defaults at length 512.
from llada_opencompass import LLaDAModel

models = [
    dict(
        type=LLaDAModel,
        abbr='llada-8b-instruct',
        path='GSAI-ML/LLaDA-8B-Instruct',  # $LLADA_MODEL_PATH overrides
        max_seq_len=4096,
        gen_steps=512,
        gen_length=512,
        gen_blocksize=512,
        batch_size_=1,
        batch_size=1,
        max_out_len=512,
        run_cfg=dict(num_gpus=1),
    )
]
