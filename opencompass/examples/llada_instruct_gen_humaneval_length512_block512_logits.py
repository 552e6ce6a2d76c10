# The original release's llada_instruct_gen_humaneval_length512_block512_logits:
# LLaDA-8B-Instruct on humaneval.humaneval_gen_8e312c (length 512, steps 512, block 512, EOS forbidden).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_humaneval_length512_block512_logits.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.humaneval.humaneval_gen_8e312c import humaneval_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = humaneval_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 512, 'gen_length': 512, 'gen_steps': 512, 'batch_size_': 1, 'batch_size': 1, 'diff_confidence_eos_eot_inf': False, 'diff_logits_eos_inf': True}
for model in models:
    model.update(eval_cfg)
