# The original release's llada_base_gen_mbpp_length256_block256:
# LLaDA-8B-Base on mbpp.mbpp_gen (length 256, steps 256, block 256, stop words ['[DONE]']).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_base_gen_mbpp_length256_block256.py
from mmengine.config import read_base

with read_base():
    from ..configs.datasets.mbpp.mbpp_gen import mbpp_datasets
    from ..configs.models.llada_base_8b import models as llada_base_8b_models
    from ._infer import infer  # noqa: F401

datasets = mbpp_datasets
models = llada_base_8b_models
eval_cfg = {'gen_blocksize': 256, 'gen_length': 256, 'gen_steps': 256, 'stop_words': ['[DONE]']}
for model in models:
    model.update(eval_cfg)
