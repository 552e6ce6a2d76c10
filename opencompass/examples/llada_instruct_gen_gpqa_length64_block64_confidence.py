# The original release's llada_instruct_gen_gpqa_length64_block64_confidence:
# LLaDA-8B-Instruct on gpqa.gpqa_fewshot_gen (length 64, steps 64, block 64, EOS/EoT confidence rule).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_gpqa_length64_block64_confidence.py
from mmengine.config import read_base

with read_base():
    from ..configs.datasets.gpqa.gpqa_fewshot_gen import gpqa_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = gpqa_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 64, 'gen_length': 64, 'gen_steps': 64, 'batch_size': 1, 'batch_size_': 1, 'diff_confidence_eos_eot_inf': True, 'diff_logits_eos_inf': False}
for model in models:
    model.update(eval_cfg)
