# The original release's llada_1p5_gen_gpqa_length256_block16:
# LLaDA 1.5 on gpqa.gpqa_fewshot_gen (length 256, steps 256, block 16).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_1p5_gen_gpqa_length256_block16.py
from mmengine.config import read_base

with read_base():
    from ..configs.datasets.gpqa.gpqa_fewshot_gen import gpqa_datasets
    from ..configs.models.llada_15_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = gpqa_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 16, 'gen_length': 256, 'gen_steps': 256, 'batch_size': 1, 'batch_size_': 1, 'diff_confidence_eos_eot_inf': False, 'diff_logits_eos_inf': False}
for model in models:
    model.update(eval_cfg)
