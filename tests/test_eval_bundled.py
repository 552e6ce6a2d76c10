"""The bundled model scores above chance on what it was trained for (skipped until models/llada-tiny-instruct
exists): held-out arithmetic, held-out Shakespeare perplexity, and the reversal pipeline."""

import json
import os
import sys

import pytest

from eval_helpers import BUNDLED, ROOT, lm_eval_results, run

BASE = os.path.join(ROOT, "models", "llada-tiny-base")

pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(BUNDLED, "config.json")),
                                reason="the bundled model is not trained yet (models/llada-tiny-instruct)")


def test_held_out_arithmetic_is_right_most_of_the_time(tmp_path):
    """Generation through lm-eval on 32 held-out questions: the exact integer is right most of the time (chance
    is about 0); the full set scores about 76% at these settings (models/llada-tiny-instruct/README.md)."""
    out = str(tmp_path / "arith")
    run([sys.executable, os.path.join(ROOT, "eval_llada.py"), "--tasks", "llada_arith", "--apply_chat_template",
         "--limit", "32", "--output_path", out, "--model_args",
         "gen_length=64,steps=64,block_length=8,batch_size=32,device=cpu"], cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    assert results["llada_arith"]["exact_match,none"] >= 0.5


@pytest.mark.parametrize("direction", ["ftb", "btf"])
def test_reversal_eval_runs_on_the_bundled_model(direction, tmp_path):
    """The pipeline a user runs: every couplet gets an answer and a hit flag, the accuracy line is printed, and
    most fine-tuned couplets are recited in either direction (all 49: models/llada-tiny-instruct/README.md)."""
    out = tmp_path / f"{direction}.jsonl"
    printed = run([sys.executable, os.path.join(ROOT, "eval_reverse.py"), "--type", direction, "--split", "sft",
                   "--limit", "8", "--device", "cpu", "--output", str(out)], cwd=str(tmp_path))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and all(isinstance(r["hit"], bool) and r["answer"].strip() for r in rows)
    assert "accuracy:" in printed.stdout
    assert sum(r["hit"] for r in rows) >= 4


@pytest.mark.parametrize("direction", ["ftb", "btf"])
def test_autoregressive_twin_recites_fine_tuned_couplets_both_ways(direction, tmp_path):
    """models/tiny-ar-twin, decoded left to right, gives the true line of couplets it was asked about in SFT
    (all 49 in both directions: models/tiny-ar-twin/README.md)."""
    out = tmp_path / f"{direction}.jsonl"
    twin = os.path.join(ROOT, "models", "tiny-ar-twin")
    run([sys.executable, os.path.join(ROOT, "eval_reverse.py"), "--model", twin, "--type", direction, "--split", "sft",
         "--limit", "8", "--device", "cpu", "--output", str(out)], cwd=str(tmp_path))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(r["hit"] for r in rows) >= 6


@pytest.mark.parametrize("model, template, claimed", [
    ("llada-tiny-base", False, 2.17),
    ("llada-tiny-instruct", True, 2.41),
])
def test_shakespeare_bits_per_byte_as_the_card_says(tmp_path, model, template, claimed):
    """The card's held-out Shakespeare numbers, by the card's commands (the whole held-out passage, mc_num=32,
    batch_size=32; the Instruct model through its chat template): 2.17 bits per byte for the base model, 2.41 after
    SFT (uniform: 3.68). Measured with the default seed: 2.172 and 2.406; other seeds move them by up to 0.04
    (base 2.145-2.172, Instruct 2.370-2.406 over five seeds), hence the 0.05 allowance."""
    pytest.importorskip("lm_eval")
    out = str(tmp_path / "ppl")
    command = [sys.executable, os.path.join(ROOT, "eval_llada.py"), "--tasks", "llada_shakespeare", "--output_path",
               out, "--model_args", f"model_path={os.path.join(ROOT, 'models', model)},mc_num=32,batch_size=32"]
    run(command + (["--apply_chat_template"] if template else []), cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    assert results["llada_shakespeare"]["bits_per_byte,none"] == pytest.approx(claimed, abs=0.05)


def test_step_digit_probe_masks_only_result_digits_and_scores_the_bundled_model(capsys):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from probe_step_digits import main, result_positions
    tokens = ["7", "Ġ+", "Ġ", "8", "Ġ=", "Ġ", "1", "5", ",", "Ġcarry", "Ġ", "1", "."]
    assert result_positions(tokens) == [6, 7]
    main(["--questions", "10"])
    share = float(capsys.readouterr().out.split("right: ")[1].split("%")[0])
    assert 60 < share <= 100  # the bundled model knows its step facts (about 96% on 80 questions)


def test_base_model_knows_the_memorised_sonnets_verbatim():
    """Lines of the ten sonnets repeated in pretraining come back token for token even out of their sonnet (about
    58% of masked tokens here; 99.7% with the whole sonnet, benchmarks/probe_sonnet_memory.py); the same words
    in reverse order do not (about 8%), so this is memory of the text, not of its vocabulary."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from probe_sonnet_memory import masked_token_accuracy

    from eval_reverse import DEFAULT_DATA, load_couplets
    from modeling_llada import load_model_and_tokenizer
    model, tokenizer = load_model_and_tokenizer(BASE, device="cpu")
    couplets = load_couplets(DEFAULT_DATA)[:20]
    texts = [c["first"] + "\n" + c["second"] for c in couplets]
    reversed_texts = [" ".join(text.split()[::-1]) for text in texts]
    assert masked_token_accuracy(model, tokenizer, texts) > 0.4
    assert masked_token_accuracy(model, tokenizer, reversed_texts) < 0.2
