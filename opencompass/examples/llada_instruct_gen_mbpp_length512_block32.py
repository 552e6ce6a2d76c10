# The original release's llada_instruct_gen_mbpp_length512_block32:
# LLaDA-8B-Instruct on mbpp.mbpp_gen (length 512, steps 512, block 32).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_mbpp_length512_block32.py
from mmengine.config import read_base

with read_base():
    from ..configs.datasets.mbpp.mbpp_gen import mbpp_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = mbpp_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 32, 'gen_length': 512, 'gen_steps': 512, 'batch_size': 1, 'batch_size_': 1}
for model in models:
    model.update(eval_cfg)
