# The original release's llada_instruct_gen_arcc_length512_block512:
# LLaDA-8B-Instruct on ARC_c.ARC_c_gen (length 512, steps 512, block 512).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_arcc_length512_block512.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.ARC_c.ARC_c_gen import ARC_c_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = ARC_c_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 512, 'gen_length': 512, 'gen_steps': 512, 'batch_size': 1, 'batch_size_': 1}
for model in models:
    model.update(eval_cfg)
