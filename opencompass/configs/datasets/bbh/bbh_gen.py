# bbh_gen as the original release ran it: pip OpenCompass's prompts and data (bbh_gen_ee62e9); the free-form
# subsets scored by ReleaseBBHEvaluator, the scoring of the OpenCompass copy the original shipped (pip's
# differs, see it); the multiple-choice subsets as in pip (the same scoring in both).
from mmengine.config import read_base

from llada_opencompass import ReleaseBBHEvaluator

with read_base():
    from opencompass.configs.datasets.bbh.bbh_gen_ee62e9 import bbh_datasets, bbh_free_form_sets

for bbh in bbh_datasets:
    if bbh['abbr'][len('bbh-'):] in bbh_free_form_sets:
        bbh['eval_cfg']['evaluator'] = dict(type=ReleaseBBHEvaluator)
