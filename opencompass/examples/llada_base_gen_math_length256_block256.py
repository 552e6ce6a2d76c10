# The original release's llada_base_gen_math_length256_block256:
# LLaDA-8B-Base on math.math_gen (length 256, steps 256, block 256, stop words ['Problem:']).
# (The original also imports mathbench_summary_groups: they name only MathBench datasets, none of which
# this run has, and mmengine cannot load that file from a virtualenv.)
#   bash eval_llada_opencompass.sh opencompass/examples/llada_base_gen_math_length256_block256.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.math.math_gen import math_datasets
    from ..configs.models.llada_base_8b import models as llada_base_8b_models
    from ._infer import infer  # noqa: F401

datasets = math_datasets
models = llada_base_8b_models
eval_cfg = {'gen_blocksize': 256, 'gen_length': 256, 'gen_steps': 256, 'stop_words': ['Problem:']}
for model in models:
    model.update(eval_cfg)
