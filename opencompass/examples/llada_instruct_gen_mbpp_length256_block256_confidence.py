# The original release's llada_instruct_gen_mbpp_length256_block256_confidence:
# LLaDA-8B-Instruct on mbpp.mbpp_gen (length 256, steps 256, block 256, EOS/EoT confidence rule).
#   bash eval_llada_opencompass.sh opencompass/examples/llada_instruct_gen_mbpp_length256_block256_confidence.py
from mmengine.config import read_base

with read_base():
    from ..configs.datasets.mbpp.mbpp_gen import mbpp_datasets
    from ..configs.models.llada_instruct_8b import models as llada_instruct_8b_models
    from ._infer import infer  # noqa: F401

datasets = mbpp_datasets
models = llada_instruct_8b_models
eval_cfg = {'gen_blocksize': 256, 'gen_length': 256, 'gen_steps': 256, 'batch_size': 1, 'batch_size_': 1, 'diff_confidence_eos_eot_inf': True, 'diff_logits_eos_inf': False}
for model in models:
    model.update(eval_cfg)
