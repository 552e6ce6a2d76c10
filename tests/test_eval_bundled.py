"""The bundled model scores above chance on what it was trained for (skipped until models/llada-tiny-instruct
exists): the couplets it was fine-tuned on, both directions, and held-out Shakespeare perplexity."""

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


def test_shakespeare_perplexity_beats_uniform(tmp_path):
    """Held-out Shakespeare (pretraining material): bits per byte below a uniform guess over the vocabulary."""
    pytest.importorskip("lm_eval")
    import math

    from transformers import AutoTokenizer
    out = str(tmp_path / "ppl")
    run([sys.executable, os.path.join(ROOT, "eval_llada.py"), "--tasks", "llada_shakespeare", "--limit", "4",
         "--output_path", out, "--model_args", "mc_num=16,batch_size=16,device=cpu"], cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    tokenizer = AutoTokenizer.from_pretrained(BUNDLED)
    sys.path.insert(0, os.path.join(ROOT, "tasks"))
    import importlib
    docs = importlib.import_module("utils").load_shakespeare()["test"]["text"][:4]
    tokens = sum(len(tokenizer(d, add_special_tokens=False)["input_ids"]) for d in docs)
    uniform_bits_per_byte = tokens * math.log2(len(tokenizer)) / sum(len(d.encode()) for d in docs)
    assert results["llada_shakespeare"]["bits_per_byte,none"] < 0.8 * uniform_bits_per_byte
