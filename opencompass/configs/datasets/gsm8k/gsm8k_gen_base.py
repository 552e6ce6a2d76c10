# The original release's gsm8k_gen_base (LLaDA-8B-Base): pip OpenCompass's 4-shot gsm8k_gen_1d7fe4 prompt,
# max_out_len and evaluator, with the answer read first from "The answer is N".
from mmengine.config import read_base

from llada_opencompass import gsm8k_answer_is_postprocess

with read_base():
    from opencompass.configs.datasets.gsm8k.gsm8k_gen_1d7fe4 import gsm8k_datasets

for gsm8k in gsm8k_datasets:
    gsm8k['eval_cfg']['pred_postprocessor'] = dict(type=gsm8k_answer_is_postprocess)
