"""The bundled model scores above chance on what it was trained for (skipped until models/llada-tiny-instruct
exists): the couplets it was fine-tuned on, both directions, and multiple-choice held-out arithmetic."""

import json
import os
import sys

import pytest

from eval_helpers import BUNDLED, ROOT, lm_eval_results, run

pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(BUNDLED, "config.json")),
                                reason="the bundled model is not trained yet (models/llada-tiny-instruct)")


@pytest.mark.parametrize("direction", ["ftb", "btf"])
def test_reversal_on_fine_tuned_couplets_beats_chance(direction, tmp_path):
    out = tmp_path / f"{direction}.jsonl"
    run([sys.executable, os.path.join(ROOT, "eval_reverse.py"), "--type", direction, "--split", "sft", "--limit", "40",
         "--device", "cpu", "--output", str(out)], cwd=str(tmp_path))
    hits = [json.loads(line)["hit"] for line in out.read_text().splitlines()]
    assert sum(hits) >= 1  # chance (reproducing an exact sonnet line by luck) is ~0


def test_arithmetic_multiple_choice_beats_chance(tmp_path):
    pytest.importorskip("lm_eval")
    out = str(tmp_path / "mc")
    run([sys.executable, os.path.join(ROOT, "eval_llada.py"), "--tasks", "llada_arith_mc", "--apply_chat_template",
         "--output_path", out, "--model_args", "mc_num=16,batch_size=16,is_check_greedy=False,device=cpu"],
        cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    assert results["llada_arith_mc"]["acc,none"] > 0.25  # 200 questions, 4 choices
