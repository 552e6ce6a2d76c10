# LLaDA-8B-Instruct, the paper's OpenCompass table (REFERENCE.md section 5): one model entry per
# dataset with its answer length / steps / block (pure diffusion unless marked semi-AR).
# $LLADA_MODEL_PATH overrides the hub id. Run: bash eval_llada_opencompass.sh instruct
from mmengine.config import read_base

from llada_opencompass import LLaDAModel

with read_base():
    from opencompass.configs.datasets.ARC_c.ARC_c_gen import ARC_c_datasets  # noqa: F401
    from opencompass.configs.datasets.gpqa.gpqa_gen import gpqa_datasets  # noqa: F401
    from opencompass.configs.datasets.gsm8k.gsm8k_gen import gsm8k_datasets  # noqa: F401
    from opencompass.configs.datasets.hellaswag.hellaswag_gen import hellaswag_datasets  # noqa: F401
    from opencompass.configs.datasets.humaneval.humaneval_gen import humaneval_datasets  # noqa: F401
    from opencompass.configs.datasets.math.math_gen import math_datasets  # noqa: F401
    from opencompass.configs.datasets.mbpp.mbpp_gen import mbpp_datasets  # noqa: F401
    from opencompass.configs.datasets.mmlu.mmlu_gen import mmlu_datasets  # noqa: F401
    from opencompass.configs.datasets.mmlu_pro.mmlu_pro_gen import mmlu_pro_datasets  # noqa: F401

model_dataset_combinations = [
    # paper: MMLU 65.4
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-mmlu', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=3, gen_steps=3, gen_blocksize=3, batch_size_=1, batch_size=1, max_out_len=3, run_cfg=dict(num_gpus=1))], datasets=mmlu_datasets),
    # paper: MMLU-Pro 36.6
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-mmlu_pro', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=256, gen_steps=256, gen_blocksize=256, batch_size_=1, batch_size=1, max_out_len=256, run_cfg=dict(num_gpus=1))], datasets=mmlu_pro_datasets),
    # paper: HellaSwag 75.3
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-hellaswag', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=3, gen_steps=3, gen_blocksize=3, batch_size_=1, batch_size=1, max_out_len=3, run_cfg=dict(num_gpus=1))], datasets=hellaswag_datasets),
    # paper: ARC-C 89.2
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-arc_c', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=512, gen_steps=512, gen_blocksize=512, batch_size_=1, batch_size=1, max_out_len=512, run_cfg=dict(num_gpus=1))], datasets=ARC_c_datasets),
    # paper: GSM8K 68.8
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-gsm8k', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=512, gen_steps=512, gen_blocksize=512, diff_confidence_eos_eot_inf=True, batch_size_=1, batch_size=1, max_out_len=512, run_cfg=dict(num_gpus=1))], datasets=gsm8k_datasets),
    # paper: MATH 29.6
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-math', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=512, gen_steps=512, gen_blocksize=512, diff_confidence_eos_eot_inf=True, batch_size_=1, batch_size=1, max_out_len=512, run_cfg=dict(num_gpus=1))], datasets=math_datasets),
    # paper: GPQA 32.3
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-gpqa', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=64, gen_steps=64, gen_blocksize=64, diff_confidence_eos_eot_inf=True, batch_size_=1, batch_size=1, max_out_len=64, run_cfg=dict(num_gpus=1))], datasets=gpqa_datasets),
    # paper: HumanEval 47.0
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-humaneval', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=512, gen_steps=512, gen_blocksize=512, diff_logits_eos_inf=True, batch_size_=1, batch_size=1, max_out_len=512, run_cfg=dict(num_gpus=1))], datasets=humaneval_datasets),
    # paper: MBPP 39.6
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-mbpp', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=256, gen_steps=256, gen_blocksize=256, diff_confidence_eos_eot_inf=True, batch_size_=1, batch_size=1, max_out_len=256, run_cfg=dict(num_gpus=1))], datasets=mbpp_datasets),
    # paper: GSM8K 78.9 (semi-AR, block 8)
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-gsm8k_semiar', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=256, gen_steps=256, gen_blocksize=8, batch_size_=1, batch_size=1, max_out_len=256, run_cfg=dict(num_gpus=1))], datasets=gsm8k_datasets),
    # paper: MATH 42.7 (semi-AR, block 64)
    dict(models=[dict(type=LLaDAModel, abbr='llada-8b-instruct-math_semiar', path='GSAI-ML/LLaDA-8B-Instruct', max_seq_len=4096, gen_length=512, gen_steps=512, gen_blocksize=64, batch_size_=1, batch_size=1, max_out_len=512, run_cfg=dict(num_gpus=1))], datasets=math_datasets),
]
models = [m for c in model_dataset_combinations for m in c['models']]
datasets = [d for c in model_dataset_combinations for d in c['datasets']]
