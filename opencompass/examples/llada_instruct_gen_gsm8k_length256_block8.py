# The original release's llada_instruct_gen_gsm8k_length256_block8:
# LLaDA-8B-Instruct on gsm8k.gsm8k_gen (length 256, steps 256, block 8).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_gsm8k_length256_block8.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.gsm8k.gsm8k_gen import gsm8k_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = gsm8k_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 8, 'gen_length': 256, 'gen_steps': 256, 'batch_size': 1, 'batch_size_': 1}
for model in models:
    model.update(eval_cfg)
