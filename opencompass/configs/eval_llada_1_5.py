# LLaDA 1.5, the paper's OpenCompass settings (length / block per dataset, REFERENCE.md section 5).
# $LLADA_MODEL_PATH overrides the hub id. Run: bash eval_llada_opencompass.sh llada15
from mmengine.config import read_base

from llada_opencompass import LLaDAModel

with read_base():
    from opencompass.configs.datasets.IFEval.IFEval_gen import ifeval_datasets  # noqa: F401
    from opencompass.configs.datasets.gpqa.gpqa_gen import gpqa_datasets  # noqa: F401
    from opencompass.configs.datasets.gsm8k.gsm8k_gen import gsm8k_datasets  # noqa: F401
    from opencompass.configs.datasets.humaneval.humaneval_gen import humaneval_datasets  # noqa: F401
    from opencompass.configs.datasets.math.math_gen import math_datasets  # noqa: F401
    from opencompass.configs.datasets.mbpp.mbpp_gen import mbpp_datasets  # noqa: F401

model_dataset_combinations = [
    # paper: GSM8K 83.6
    dict(models=[dict(type=LLaDAModel, abbr='llada-1.5-8b-gsm8k', path='GSAI-ML/LLaDA-1.5', max_seq_len=4096, gen_length=256, gen_steps=256, gen_blocksize=16, batch_size_=1, batch_size=1, max_out_len=256, run_cfg=dict(num_gpus=1))], datasets=gsm8k_datasets),
    # paper: MATH 42.3
    dict(models=[dict(type=LLaDAModel, abbr='llada-1.5-8b-math', path='GSAI-ML/LLaDA-1.5', max_seq_len=4096, gen_length=1024, gen_steps=1024, gen_blocksize=128, batch_size_=1, batch_size=1, max_out_len=1024, run_cfg=dict(num_gpus=1))], datasets=math_datasets),
    # paper: GPQA 34.8
    dict(models=[dict(type=LLaDAModel, abbr='llada-1.5-8b-gpqa', path='GSAI-ML/LLaDA-1.5', max_seq_len=4096, gen_length=256, gen_steps=256, gen_blocksize=16, batch_size_=1, batch_size=1, max_out_len=256, run_cfg=dict(num_gpus=1))], datasets=gpqa_datasets),
    # paper: HumanEval 51.2
    dict(models=[dict(type=LLaDAModel, abbr='llada-1.5-8b-humaneval', path='GSAI-ML/LLaDA-1.5', max_seq_len=4096, gen_length=512, gen_steps=512, gen_blocksize=32, batch_size_=1, batch_size=1, max_out_len=512, run_cfg=dict(num_gpus=1))], datasets=humaneval_datasets),
    # paper: MBPP 42.6
    dict(models=[dict(type=LLaDAModel, abbr='llada-1.5-8b-mbpp', path='GSAI-ML/LLaDA-1.5', max_seq_len=4096, gen_length=512, gen_steps=512, gen_blocksize=32, batch_size_=1, batch_size=1, max_out_len=512, run_cfg=dict(num_gpus=1))], datasets=mbpp_datasets),
    # paper: IFEval 65.2
    dict(models=[dict(type=LLaDAModel, abbr='llada-1.5-8b-ifeval', path='GSAI-ML/LLaDA-1.5', max_seq_len=4096, gen_length=256, gen_steps=256, gen_blocksize=16, batch_size_=1, batch_size=1, max_out_len=256, run_cfg=dict(num_gpus=1))], datasets=ifeval_datasets),
]
models = [m for c in model_dataset_combinations for m in c['models']]
datasets = [d for c in model_dataset_combinations for d in c['datasets']]
