"""The math scoring path of the lm-eval adapter: math_verify (and the rest of lm-eval's math dependencies) is
installed and works, tasks/llada_math.yaml's scorer reads \\boxed{} answers or the bundled model's "a op b = c."
lines, and the task runs end to end on the bundled model."""

import importlib
import os
import sys

import pytest

from eval_helpers import BUNDLED, ROOT, lm_eval_results, lm_eval_sample_rows, run

pytest.importorskip("lm_eval")
pytest.importorskip("math_verify")
sys.path.insert(0, os.path.join(ROOT, "tasks"))
utils = importlib.import_module("utils")


def test_math_scorer_reads_boxed_answers_and_final_numbers():
    assert utils.math_is_correct("\\boxed{85}", 85)
    assert utils.math_is_correct("so the answer is \\boxed{\\frac{1}{2}}", 0.5)
    assert utils.math_is_correct("\\boxed{85}", "\\boxed{85}")
    assert not utils.math_is_correct("\\boxed{84}", 85)
    assert not utils.math_is_correct("no number here", 85)
    # the bundled model's style: the last number after the last "="
    assert utils.math_is_correct("5 - 7 needs a borrow: 15 - 7 = 8. 45 - 17 = 28.", "\\boxed{28}")
    assert utils.math_is_correct("12 - 90 = -78.", "\\boxed{-78}")
    assert not utils.math_is_correct("12 - 90 = 78.", "\\boxed{-78}")
    assert utils.last_boxed("\\boxed{a{b}c} then \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert utils.last_boxed("\\boxed{unclosed") is None
    doc = utils.load_arith_math()["test"][0]
    assert doc["target"].startswith("\\boxed{") and utils.math_process_results(doc, [doc["target"]]) == {
        "math_verify": 1.0}


def test_lm_eval_math_tasks_find_their_dependencies():
    """lm-eval's minerva_math (the paper's Math) imports sympy's LaTeX parser and math_verify, and insists on
    antlr4-python3-runtime 4.11 (requirements-eval.txt pins it)."""
    minerva = importlib.import_module("lm_eval.tasks.minerva_math.utils")
    assert minerva.is_equiv("\\frac{1}{2}", "0.5")
    doc = {"answer": "\\frac{1}{2}", "solution": "So $x = \\boxed{\\frac{1}{2}}$."}
    scores = minerva.process_results(doc, ["Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct."])
    assert scores == {"exact_match": 1, "math_verify": 1}


@pytest.mark.skipif(not os.path.isfile(os.path.join(BUNDLED, "config.json")), reason="no bundled model")
def test_math_task_runs_end_to_end_on_the_bundled_model(tmp_path):
    """lm-eval generates, scores with math_verify and averages; the score is what the logged samples give, and
    the bundled model gets most of these held-out questions right (about 83% on all 300)."""
    out = str(tmp_path / "math")
    run([sys.executable, os.path.join(ROOT, "eval_llada.py"), "--tasks", "llada_math", "--apply_chat_template",
         "--limit", "8", "--log_samples", "--batch_size", "8", "--output_path", out, "--model_args",
         "gen_length=64,steps=64,block_length=8,device=cpu"], cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    score = results["llada_math"]["math_verify,none"]
    rows = lm_eval_sample_rows(out)["llada_math"]
    assert len(rows) == 8
    recomputed = [float(utils.math_is_correct(row["filtered_resps"][0], row["doc"]["target"])) for row in rows]
    assert [row["math_verify"] for row in rows] == recomputed
    assert score == pytest.approx(sum(recomputed) / len(recomputed))
    assert score >= 0.5
