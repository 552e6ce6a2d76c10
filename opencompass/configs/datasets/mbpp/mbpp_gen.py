# mbpp_gen as the original release ran it: pip OpenCompass's prompt and data (mbpp_gen_830460), scored by
# ReleaseMBPPEvaluator, the scoring of the OpenCompass copy the original shipped (pip's differs, see it).
from mmengine.config import read_base

from llada_opencompass import ReleaseMBPPEvaluator

with read_base():
    from opencompass.configs.datasets.mbpp.mbpp_gen import mbpp_datasets

for mbpp in mbpp_datasets:
    mbpp['eval_cfg']['evaluator'] = dict(type=ReleaseMBPPEvaluator)
