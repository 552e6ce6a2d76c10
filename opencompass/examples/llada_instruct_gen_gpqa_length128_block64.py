# The original release's llada_instruct_gen_gpqa_length128_block64:
# LLaDA-8B-Instruct on gpqa.gpqa_fewshot_gen (length 128, steps 128, block 64).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_gpqa_length128_block64.py
from mmengine.config import read_base

with read_base():
    from ..configs.datasets.gpqa.gpqa_fewshot_gen import gpqa_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = gpqa_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 64, 'gen_length': 128, 'gen_steps': 128, 'batch_size': 1, 'batch_size_': 1}
for model in models:
    model.update(eval_cfg)
