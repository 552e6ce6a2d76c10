"""eval_reverse.py: templates, data loading, and a run that prints the accuracy and writes per-item results."""

import json
import sys

from eval_helpers import ROOT, eval_model_path, run

sys.path.insert(0, ROOT)
import eval_reverse  # noqa: E402


def test_templates_and_hits():
    items = eval_reverse.build_items([{"first": "床前明月光", "second": "疑是地上霜"}], "btf")
    assert items[0]["question"] == "“疑是地上霜”的上一句是什么？" and items[0]["target"] == "床前明月光"
    items = eval_reverse.build_items([{"first": "A line,", "second": "B line."}], "ftb")
    assert items[0]["question"] == 'What is the next line after: "A line,"?' and items[0]["target"] == "B line."
    assert eval_reverse.is_hit("B line.", "It is: B line. Yes") and not eval_reverse.is_hit("B line.", "C line.")


def test_load_couplets_split_and_pairs(tmp_path):
    held = eval_reverse.load_couplets(eval_reverse.DEFAULT_DATA, "heldout")
    assert held and all(set(c) >= {"first", "second"} for c in held)
    pairs = tmp_path / "zh.json"
    pairs.write_text(json.dumps([["床前明月光", "疑是地上霜"]], ensure_ascii=False), encoding="utf-8")
    assert eval_reverse.load_couplets(str(pairs)) == [{"first": "床前明月光", "second": "疑是地上霜"}]


def test_reverse_eval_runs(tmp_path_factory, tmp_path):
    model = eval_model_path(tmp_path_factory)
    out = tmp_path / "btf.jsonl"
    result = run([sys.executable, eval_reverse.__file__, "--model", model, "--type", "btf", "--split", "heldout",
                  "--limit", "4", "--gen_length", "16", "--block_length", "8", "--cfg", "0.5", "--eos_inf",
                  "--device", "cpu", "--output", str(out)], cwd=str(tmp_path))
    assert "accuracy:" in result.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and all({"question", "target", "answer", "hit"} <= set(r) for r in rows)


def test_autoregressive_twin_is_decoded_left_to_right(tmp_path):
    """A causal checkpoint (train.py --objective ar) goes through greedy next-token decoding."""
    import torch
    from eval_helpers import make_random_model
    from modeling_llada import load_model_and_tokenizer

    path = make_random_model(str(tmp_path / "ar"))
    model, tokenizer = load_model_and_tokenizer(path, device="cpu")
    model.config.causal = True
    answers = eval_reverse.answer_questions(model, tokenizer, ['What is the line before: "x"?', "Hi"], 8, 8, 8)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    prompt = torch.tensor([[5, 6, 7]])
    out = eval_reverse.autoregressive_generate(model, prompt, torch.ones_like(prompt), 4, {tokenizer.eos_token_id})
    assert out.shape == (1, 7)
    logits = model(prompt).logits[:, -1]
    assert out[0, 3].item() == logits.argmax().item()
