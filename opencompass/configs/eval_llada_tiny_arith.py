# Offline OpenCompass run: the bundled tiny model on held-out arithmetic (data/arith_test.jsonl).
#   bash eval_llada_opencompass.sh tiny        ($LLADA_OC_LIMIT=N: first N questions; $LLADA_MODEL_PATH: another model)
from mmengine.config import read_base
from opencompass.openicl.icl_inferencer import GenInferencer
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import ZeroRetriever

from llada_opencompass import ArithEvaluator, LLaDAJsonlDataset

with read_base():
    from .models.llada_tiny_instruct import models  # noqa: F401

datasets = [
    dict(
        abbr='llada_arith',
        type=LLaDAJsonlDataset,
        path='data/arith_test.jsonl',
        reader_cfg=dict(input_columns=['question'], output_column='answer'),
        infer_cfg=dict(
            prompt_template=dict(type=PromptTemplate, template=dict(round=[dict(role='HUMAN', prompt='{question}')])),
            retriever=dict(type=ZeroRetriever),
            inferencer=dict(type=GenInferencer, max_out_len=96),
        ),
        eval_cfg=dict(evaluator=dict(type=ArithEvaluator)),
    )
]
