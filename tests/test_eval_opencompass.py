"""The OpenCompass wrapper, in OpenCompass's own virtual environment (it pins numpy<2 and pyarrow<26):
an offline run of the bundled (or a random tiny) model on a small custom dataset completes.

The environment: $LLADA_OPENCOMPASS_PYTHON if set, else a venv under ~/.cache/llada_eval/oc-venv, created
here (with the system site-packages, so torch and transformers are reused) from requirements-opencompass.txt
when it is missing. Creating it needs PyPI; CI can create it beforehand (see EVAL.md)."""

import glob
import os
import subprocess
import sys

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
    python = opencompass_python()
    model = eval_model_path(tmp_path_factory)
    work = tmp_path / "oc"
    opencompass_cli = os.path.join(os.path.dirname(python), "opencompass")
    run(["bash", os.path.join(ROOT, "eval_llada_opencompass.sh"), "tiny"], cwd=str(tmp_path), timeout=900,
        extra_env={"OPENCOMPASS": opencompass_cli, "LLADA_MODEL_PATH": model, "LLADA_OC_LIMIT": "4",
                   "WORK_DIR": str(work)})
    summaries = glob.glob(str(work / "*" / "summary" / "summary_*.csv"))
    assert summaries, "OpenCompass wrote no summary"
    with open(summaries[0]) as f:
        table = f.read()
    assert "llada_arith" in table and "accuracy" in table
    predictions = glob.glob(str(work / "*" / "predictions" / "*" / "llada_arith.json"))
    assert predictions
