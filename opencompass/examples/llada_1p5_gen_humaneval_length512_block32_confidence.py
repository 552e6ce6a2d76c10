# The original release's llada_1p5_gen_humaneval_length512_block32_confidence:
# LLaDA 1.5 on humaneval.humaneval_gen_8e312c (length 512, steps 512, block 32, EOS/EoT confidence rule).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_1p5_gen_humaneval_length512_block32_confidence.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.humaneval.humaneval_gen_8e312c import humaneval_datasets
    from ..configs.models.llada_15_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = humaneval_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 32, 'gen_length': 512, 'gen_steps': 512, 'batch_size_': 1, 'batch_size': 1, 'diff_confidence_eos_eot_inf': True, 'diff_logits_eos_inf': False}
for model in models:
    model.update(eval_cfg)
