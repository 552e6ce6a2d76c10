# The original release's llada_instruct_gen_mmlu_length3_block3:
# LLaDA-8B-Instruct on mmlu.mmlu_gen_a484b3 (length 3, steps 3, block 3).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_mmlu_length3_block3.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.mmlu.mmlu_gen_a484b3 import mmlu_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from opencompass.configs.summarizers.groups.mmlu import mmlu_summary_groups
    from ._infer import infer  # noqa: F401

datasets = mmlu_datasets
models = llada_instruct_8b_models
summarizer = dict(summary_groups=sum([v for k, v in locals().items() if k.endswith('_summary_groups')], []))
eval_cfg = {'gen_blocksize': 3, 'gen_length': 3, 'gen_steps': 3, 'batch_size_': 1, 'batch_size': 1}
for model in models:
    model.update(eval_cfg)
