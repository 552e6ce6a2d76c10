# The original release's llada_instruct_gen_hellaswag_length3_block3:
# LLaDA-8B-Instruct on hellaswag.hellaswag_gen_6faab5 (length 3, steps 3, block 3).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_hellaswag_length3_block3.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.hellaswag.hellaswag_gen_6faab5 import hellaswag_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = hellaswag_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 3, 'gen_length': 3, 'gen_steps': 3, 'batch_size': 1, 'batch_size_': 1}
for model in models:
    model.update(eval_cfg)
