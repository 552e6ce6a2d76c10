# The original release's humaneval_gen_base (LLaDA-8B-Base): pip OpenCompass's humaneval_gen_8e312c with the
# bare function header as the prompt (no "Complete the following python code:") and the completion kept up to
# the first line that is not indented (humaneval_internal_v2_postprocess).
from mmengine.config import read_base
from opencompass.datasets import humaneval_internal_v2_postprocess

with read_base():
    from opencompass.configs.datasets.humaneval.humaneval_gen_8e312c import humaneval_datasets

for humaneval in humaneval_datasets:
    humaneval['infer_cfg']['prompt_template']['template']['round'][0]['prompt'] = '{prompt}'
    humaneval['eval_cfg']['pred_postprocessor'] = dict(type=humaneval_internal_v2_postprocess)
