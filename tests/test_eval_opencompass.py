"""The OpenCompass wrapper, in OpenCompass's own virtual environment (it pins numpy<2 and pyarrow<26):
every counterpart of the original release's 27 example configs loads with the original's dataset variant and
knobs, and an offline run of the bundled (or a random tiny) model on a small custom dataset completes.

The environment: $LLADA_OPENCOMPASS_PYTHON if set, else a venv under ~/.cache/llada_eval/oc-venv, created
here (with the system site-packages, so torch and transformers are reused) from requirements-opencompass.txt
when it is missing. Creating it needs PyPI; CI can create it beforehand (see EVAL.md)."""

import glob
import json
import os
import subprocess
import sys

import pytest

from eval_helpers import ROOT, eval_model_path, run

CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "llada_eval")
VENV = os.path.join(CACHE, "oc-venv")


def opencompass_python():
    python = os.environ.get("LLADA_OPENCOMPASS_PYTHON") or os.path.join(VENV, "bin", "python")
    check = [python, "-c", "import opencompass, numpy, torch, transformers; assert numpy.__version__ < '2'"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    os.makedirs(CACHE, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", VENV], check=True)
    run([os.path.join(VENV, "bin", "pip"), "install", "-q", "-r", os.path.join(ROOT, "requirements-opencompass.txt")],
        cwd=ROOT, timeout=1200)
    python = os.path.join(VENV, "bin", "python")
    subprocess.run(check[:0] + [python] + check[1:], check=True)
    return python


def test_opencompass_offline_run(tmp_path_factory, tmp_path):
    """`eval_llada_opencompass.sh tiny`: the reference sampler and the fast settings (dual cache, threshold 0.9, early
    exit) side by side on the offline dataset; the speed of each is gathered into speed.json and printed."""
    python = opencompass_python()
    model = eval_model_path(tmp_path_factory)
    work = tmp_path / "oc"
    opencompass_cli = os.path.join(os.path.dirname(python), "opencompass")
    result = run(["bash", os.path.join(ROOT, "eval_llada_opencompass.sh"), "tiny"], cwd=str(tmp_path), timeout=900,
                 extra_env={"OPENCOMPASS": opencompass_cli, "LLADA_MODEL_PATH": model, "LLADA_OC_LIMIT": "4",
                            "WORK_DIR": str(work)})
    summaries = glob.glob(str(work / "*" / "summary" / "summary_*.csv"))
    assert summaries, "OpenCompass wrote no summary"
    with open(summaries[0]) as f:
        table = f.read()
    assert "llada_arith" in table and "accuracy" in table
    assert "llada-tiny-instruct" in table and "llada-tiny-instruct-fast" in table
    predictions = glob.glob(str(work / "*" / "predictions" / "*" / "llada_arith.json"))
    assert len(predictions) == 2
    (speed_path,) = glob.glob(str(work / "*" / "speed.json"))
    with open(speed_path) as f:
        speed = json.load(f)["tasks"]
    reference, fast = speed["llada-tiny-instruct/llada_arith"], speed["llada-tiny-instruct-fast/llada_arith"]
    assert reference["answers"] == fast["answers"] == 4 and reference["answer_tokens"] == 4 * 64
    assert reference["forwards_per_token"] == 1.0 and fast["forwards_per_token"] < 1.0  # steps = gen_length
    assert f"| llada-tiny-instruct-fast/llada_arith | 4 | {fast['forwards_per_token']:.3f} |" in result.stdout


# The original release's example configs (opencompass/examples/<name>.py there): model config, dataset
# abbreviations (first, count), length/steps/block, EOS flags (C: confidence rule, L: logits), stop words,
# and a marker of the dataset variant (its answer post-processor or, where it has none, its evaluator).
ORIGINAL_EXAMPLES = {
    "llada_1p5_gen_gpqa_length256_block16":
        ("1.5", "GPQA_diamond", 1, (256, 256, 16), "", None, "gpqa_correct_answer_postprocess"),
    "llada_1p5_gen_gsm8k_length256_block16_confidence":
        ("1.5", "gsm8k", 1, (256, 256, 16), "C", None, "gsm8k_postprocess"),
    "llada_1p5_gen_humaneval_length512_block32_confidence":
        ("1.5", "openai_humaneval", 1, (512, 512, 32), "C", None, "humaneval_postprocess_v2"),
    "llada_1p5_gen_ifeval_length256_block16_confidence":
        ("1.5", "IFEval", 1, (256, 256, 16), "C", None, "IFEvaluator"),
    "llada_1p5_gen_math_length1024_block128_confidence":
        ("1.5", "math", 1, (1024, 1024, 128), "C", None, "math_postprocess_v2"),
    "llada_1p5_gen_mbpp_length512_block32_confidence":
        ("1.5", "mbpp", 1, (512, 512, 32), "C", None, "ReleaseMBPPEvaluator"),
    "llada_base_gen_bbh_length256_block256":
        ("base", "bbh-temporal_sequences", 27, (256, 256, 256), "", None, "bbh_mcq_postprocess"),
    "llada_base_gen_gsm8k_length256_block256":
        ("base", "gsm8k", 1, (256, 256, 256), "", None, "gsm8k_answer_is_postprocess"),
    "llada_base_gen_humaneval_length256_block256":
        ("base", "openai_humaneval", 1, (256, 256, 256), "", None, "humaneval_internal_v2_postprocess"),
    "llada_base_gen_math_length256_block256":
        ("base", "math", 1, (256, 256, 256), "", ["Problem:"], "MATHVerifyEvaluator"),
    "llada_base_gen_mbpp_length256_block256":
        ("base", "mbpp", 1, (256, 256, 256), "", ["[DONE]"], "ReleaseMBPPEvaluator"),
    "llada_instruct_gen_arcc_length512_block512":
        ("instruct", "ARC-c", 1, (512, 512, 512), "", None, "first_option_postprocess"),
    "llada_instruct_gen_gpqa_length128_block64":
        ("instruct", "GPQA_diamond", 1, (128, 128, 64), "", None, "gpqa_correct_answer_postprocess"),
    "llada_instruct_gen_gpqa_length64_block64_confidence":
        ("instruct", "GPQA_diamond", 1, (64, 64, 64), "C", None, "gpqa_correct_answer_postprocess"),
    "llada_instruct_gen_gsm8k_length256_block8":
        ("instruct", "gsm8k", 1, (256, 256, 8), "", None, "gsm8k_postprocess"),
    "llada_instruct_gen_gsm8k_length512_block512_confidence":
        ("instruct", "gsm8k", 1, (512, 512, 512), "C", None, "gsm8k_postprocess"),
    "llada_instruct_gen_hellaswag_length3_block3":
        ("instruct", "hellaswag", 1, (3, 3, 3), "", None, "first_option_postprocess"),
    "llada_instruct_gen_humaneval_length512_block32":
        ("instruct", "openai_humaneval", 1, (512, 512, 32), "", None, "humaneval_postprocess_v2"),
    "llada_instruct_gen_humaneval_length512_block512_logits":
        ("instruct", "openai_humaneval", 1, (512, 512, 512), "L", None, "humaneval_postprocess_v2"),
    "llada_instruct_gen_ifeval_length512_block512_confidence":
        ("instruct", "IFEval", 1, (512, 512, 512), "C", None, "IFEvaluator"),
    "llada_instruct_gen_math_length256_block256":
        ("instruct", "math", 1, (256, 256, 256), "", None, "math_postprocess_v2"),
    "llada_instruct_gen_math_length512_block512_confidence":
        ("instruct", "math", 1, (512, 512, 512), "C", None, "math_postprocess_v2"),
    "llada_instruct_gen_math_length512_block64":
        ("instruct", "math", 1, (512, 512, 64), "", None, "math_postprocess_v2"),
    "llada_instruct_gen_mbpp_length256_block256_confidence":
        ("instruct", "mbpp", 1, (256, 256, 256), "C", None, "ReleaseMBPPEvaluator"),
    "llada_instruct_gen_mbpp_length512_block32":
        ("instruct", "mbpp", 1, (512, 512, 32), "", None, "ReleaseMBPPEvaluator"),
    "llada_instruct_gen_mmlu_length3_block3":
        ("instruct", "lukaemon_mmlu_college_biology", 57, (3, 3, 3), "", None, "first_option_postprocess"),
    "llada_instruct_gen_mmlupro_length256_block256":
        ("instruct", "mmlu_pro_math", 14, (256, 256, 256), "", None, "match_answer_pattern"),
}
# The dataset config variant each example imports (the original release's names): the pip package's file, or
# this repository's opencompass/configs/datasets/ file of that name where the original's is not in pip or pip
# scores it differently.
VARIANTS = {
    "gpqa": "gpqa.gpqa_fewshot_gen", "gsm8k": "gsm8k.gsm8k_gen", "humaneval": "humaneval.humaneval_gen_8e312c",
    "ifeval": "IFEval.IFEval_gen", "math": "math.math_0shot_gen_11c4b5", "mbpp": "mbpp.mbpp_gen", "bbh": "bbh.bbh_gen",
    "arcc": "ARC_c.ARC_c_gen", "hellaswag": "hellaswag.hellaswag_gen_6faab5", "mmlu": "mmlu.mmlu_gen_a484b3",
    "mmlupro": "mmlu_pro.mmlu_pro_gen",
}
BASE_VARIANTS = {"gsm8k": "gsm8k.gsm8k_gen_base", "humaneval": "humaneval.humaneval_gen_base", "math": "math.math_gen"}


def variant_of(name):
    benchmark = name.split("_gen_")[1].split("_")[0]
    return (BASE_VARIANTS.get(benchmark) if name.startswith("llada_base") else None) or VARIANTS[benchmark]


MODEL_CONFIGS = {"base": ("LLaDABaseModel", "llada-8b-base", "GSAI-ML/LLaDA-8B-Base"),
                 "instruct": ("LLaDAModel", "llada-8b-instruct", "GSAI-ML/LLaDA-8B-Instruct"),
                 "1.5": ("LLaDAModel", "llada-1.5-8b-instruct", "GSAI-ML/LLaDA-1.5")}
SUMMARY_GROUPS = {"llada_base_gen_bbh_length256_block256": 1, "llada_instruct_gen_mmlu_length3_block3": 6,
                  "llada_instruct_gen_mmlupro_length256_block256": 1}

# Run in OpenCompass's environment: load each example as OpenCompass does and report what it resolved to,
# and whether its datasets are exactly those of the variant file it should import.
DUMP_CONFIGS = """
import glob, json, os, sys
import opencompass
from mmengine.config import Config

variants = json.loads(sys.argv[2])
local_datasets = os.path.join(sys.argv[1], os.pardir, "configs", "datasets")
pip_datasets = os.path.join(os.path.dirname(opencompass.__file__), "configs", "datasets")

def variant_datasets(variant):
    relative = variant.replace(".", os.sep) + ".py"
    local = os.path.join(local_datasets, relative)
    cfg = Config.fromfile(local if os.path.exists(local) else os.path.join(pip_datasets, relative),
                          format_python_code=False)
    return [d for key, value in cfg.items() if key.endswith("_datasets") for d in value]

def name_of(obj):
    obj = obj if isinstance(obj, str) else getattr(obj, "__name__", None) or str(obj)
    return obj.rsplit(".", 1)[-1]

out = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "llada_*.py"))):
    cfg = Config.fromfile(path, format_python_code=False)
    (model,) = cfg.models
    datasets = cfg.datasets
    eval_cfgs = [d["eval_cfg"] for d in datasets]
    out[os.path.basename(path)[:-3]] = dict(
        model={k: (name_of(v) if k == "type" else v) for k, v in model.items() if k != "run_cfg"},
        abbrs=[d["abbr"] for d in datasets],
        markers=sorted({name_of(e["evaluator"]["type"]) for e in eval_cfgs}
                       | {name_of(e["pred_postprocessor"]["type"]) for e in eval_cfgs if "pred_postprocessor" in e}),
        summary_groups=len(cfg.get("summarizer", {}).get("summary_groups", [])),
        same_as_variant=str(datasets) == str(variant_datasets(variants[os.path.basename(path)[:-3]])),
        infer=[cfg.infer.partitioner.num_worker, cfg.infer.runner.max_num_workers, cfg.infer.runner.retry])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def example_configs(tmp_path_factory):
    python = opencompass_python()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "opencompass"), ROOT]))
    variants = json.dumps({name: variant_of(name) for name in ORIGINAL_EXAMPLES})
    result = subprocess.run([python, "-c", DUMP_CONFIGS, os.path.join(ROOT, "opencompass", "examples"), variants],
                            capture_output=True, text=True, env=env, timeout=600,
                            cwd=str(tmp_path_factory.mktemp("oc-configs")))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_original_example_has_its_counterpart(example_configs):
    assert sorted(example_configs) == sorted(ORIGINAL_EXAMPLES)


@pytest.mark.parametrize("name", sorted(ORIGINAL_EXAMPLES))
def test_example_config_matches_the_original(example_configs, name):
    which, first_abbr, count, (length, steps, block), flags, stop_words, marker = ORIGINAL_EXAMPLES[name]
    got = example_configs[name]
    model = got["model"]
    model_type, abbr, path = MODEL_CONFIGS[which]
    assert (model["type"], model["abbr"], model["path"]) == (model_type, abbr, path)
    assert (model["gen_length"], model["gen_steps"], model["gen_blocksize"]) == (length, steps, block)
    assert model.get("diff_confidence_eos_eot_inf", False) == ("C" in flags)
    assert model.get("diff_logits_eos_inf", False) == ("L" in flags)
    assert model.get("stop_words") == stop_words
    assert model["batch_size"] == 1 and model.get("batch_size_", 1) == 1
    assert "max_seq_len" not in model  # as in the original: OpenCompass drops no few-shot example for length
    assert got["abbrs"][0] == first_abbr and len(got["abbrs"]) == count
    assert got["same_as_variant"], f"{name} does not resolve to the datasets of {variant_of(name)}"
    assert marker in got["markers"]
    assert got["summary_groups"] == SUMMARY_GROUPS.get(name, 0)
    assert got["infer"] == [8, 64, 5]


def test_wrapper_checks_under_opencompass(tmp_path):
    """The wrapper's own checks (tests/opencompass_wrapper_checks.py) need OpenCompass: run them with its Python."""
    run([opencompass_python(), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         os.path.join(ROOT, "tests", "opencompass_wrapper_checks.py")], cwd=str(tmp_path), timeout=600)
