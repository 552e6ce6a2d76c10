# The original release's llada_instruct_gen_mmlupro_length256_block256:
# LLaDA-8B-Instruct on mmlu_pro.mmlu_pro_gen (length 256, steps 256, block 256).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_mmlupro_length256_block256.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.mmlu_pro.mmlu_pro_gen import mmlu_pro_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from opencompass.configs.summarizers.groups.mmlu_pro import mmlu_pro_summary_groups
    from ._infer import infer  # noqa: F401

datasets = mmlu_pro_datasets
models = llada_instruct_8b_models
summarizer = dict(summary_groups=sum([v for k, v in locals().items() if k.endswith('_summary_groups')], []))
eval_cfg = {'gen_blocksize': 256, 'gen_length': 256, 'gen_steps': 256, 'batch_size': 1, 'batch_size_': 1}
for model in models:
    model.update(eval_cfg)
