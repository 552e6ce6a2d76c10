# The original release's llada_1p5_gen_math_length1024_block128_confidence:
# LLaDA 1.5 on math.math_0shot_gen_11c4b5 (length 1024, steps 1024, block 128, EOS/EoT confidence rule).
# (The original also imports mathbench_summary_groups: they name only MathBench datasets, none of which
# this run has, and mmengine cannot load that file from a virtualenv.)
#   bash eval_llada_opencompass.sh opencompass/examples/llada_1p5_gen_math_length1024_block128_confidence.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.math.math_0shot_gen_11c4b5 import math_datasets
    from ..configs.models.llada_15_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = math_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 128, 'gen_length': 1024, 'gen_steps': 1024, 'batch_size': 1, 'batch_size_': 1, 'diff_confidence_eos_eot_inf': True, 'diff_logits_eos_inf': False}
for model in models:
    model.update(eval_cfg)
