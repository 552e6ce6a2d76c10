# The original release's llada_base_gen_bbh_length256_block256:
# LLaDA-8B-Base on bbh.bbh_gen (length 256, steps 256, block 256).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_base_gen_bbh_length256_block256.py
from mmengine.config import read_base

with read_base():
    from ..configs.datasets.bbh.bbh_gen import bbh_datasets
    from ..configs.models.llada_base_8b import models as llada_base_8b_models
    from opencompass.configs.summarizers.groups.bbh import bbh_summary_groups
    from ._infer import infer  # noqa: F401

datasets = bbh_datasets
models = llada_base_8b_models
summarizer = dict(summary_groups=sum([v for k, v in locals().items() if k.endswith('_summary_groups')], []))
eval_cfg = {'gen_blocksize': 256, 'gen_length': 256, 'gen_steps': 256}
for model in models:
    model.update(eval_cfg)
