# The original release's llada_instruct_gen_math_length512_block512_confidence:
# LLaDA-8B-Instruct on math.math_0shot_gen_11c4b5 (length 512, steps 512, block 512, EOS/EoT confidence rule).
# (The original also imports mathbench_summary_groups: they name only MathBench datasets, none of which
# this run has, and mmengine cannot load that file from a virtualenv.)
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_math_length512_block512_confidence.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.math.math_0shot_gen_11c4b5 import math_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = math_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 512, 'gen_length': 512, 'gen_steps': 512, 'batch_size': 1, 'batch_size_': 1, 'diff_confidence_eos_eot_inf': True, 'diff_logits_eos_inf': False}
for model in models:
    model.update(eval_cfg)
