# The original release's llada_instruct_gen_ifeval_length512_block512_confidence:
# LLaDA-8B-Instruct on IFEval.IFEval_gen (length 512, steps 512, block 512, EOS/EoT confidence rule).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_ifeval_length512_block512_confidence.py
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.IFEval.IFEval_gen import ifeval_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = ifeval_datasets
models = llada_instruct_8b_models
summarizer = dict(summary_groups=sum([v for k, v in locals().items() if k.endswith('_summary_groups')], []))
eval_cfg = {'gen_blocksize': 512, 'gen_length': 512, 'gen_steps': 512, 'batch_size': 1, 'batch_size_': 1, 'diff_confidence_eos_eot_inf': True, 'diff_logits_eos_inf': False}
for model in models:
    model.update(eval_cfg)
