"""eval_reverse.py: templates, data loading, and a run that prints the accuracy and writes per-item results;
the original release's Chinese poem file (data/poem_data.json of ML-GSAI/LLaDA) runs with its exact prompts,
settings and hit rule."""

import json
import os
import sys

import pytest
import torch

from eval_helpers import ROOT, eval_model_path, run

sys.path.insert(0, ROOT)
import eval_reverse  # noqa: E402


def test_templates_and_hits():
    items = eval_reverse.build_items([{"first": "床前明月光", "second": "疑是地上霜"}], "btf")
    assert items[0]["question"] == "疑是地上霜的上一句是什么？ 直接输出句子即可。"
    assert items[0]["target"] == "床前明月光"
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
    """The command line: every row holds the answer answer_questions() gives with the flags passed (--cfg 0.5 and
    --eos_inf both change these answers), its hit flag, and the printed accuracy counts the hits."""
    from modeling_llada import load_model_and_tokenizer
    model_path = eval_model_path(tmp_path_factory)
    out = tmp_path / "btf.jsonl"
    result = run([sys.executable, eval_reverse.__file__, "--model", model_path, "--type", "btf", "--split", "heldout",
                  "--limit", "4", "--gen_length", "16", "--block_length", "8", "--cfg", "0.5", "--eos_inf",
                  "--device", "cpu", "--output", str(out)], cwd=str(tmp_path))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    items = eval_reverse.build_items(eval_reverse.load_couplets(eval_reverse.DEFAULT_DATA, "heldout")[:4], "btf")
    assert [r["question"] for r in rows] == [i["question"] for i in items]
    assert [r["target"] for r in rows] == [i["target"] for i in items]
    model, tokenizer = load_model_and_tokenizer(model_path, device="cpu")
    questions = [i["question"] for i in items]
    expected = eval_reverse.answer_questions(model, tokenizer, questions, 16, 16, 8, cfg_scale=0.5, logits_eos_inf=True)
    assert [r["answer"] for r in rows] == expected
    assert expected != eval_reverse.answer_questions(model, tokenizer, questions, 16, 16, 8)  # the flags matter
    assert [r["hit"] for r in rows] == [eval_reverse.is_hit(r["target"], r["answer"]) for r in rows]
    hits = sum(r["hit"] for r in rows)
    assert f"accuracy: {100.0 * hits / 4:.2f}% ({hits}/4)" in result.stdout


def greedy_continuation(model, ids, length, stop_ids):
    """Left-to-right greedy decoding of one unpadded prompt, a model call per token: each token is the argmax at
    the last position; after a stop token the row repeats the smallest stop id."""
    tokens = list(ids)
    for _ in range(length):
        if any(t in stop_ids for t in tokens[len(ids):]):
            tokens.append(min(stop_ids))
            continue
        logits = model(torch.tensor([tokens])).logits[0, -1]
        tokens.append(int(logits.argmax()))
    return tokens[len(ids):]


def test_autoregressive_twin_is_decoded_left_to_right(tmp_path):
    """A causal checkpoint (train.py --objective ar) goes through greedy next-token decoding: a left-padded batch
    gives each row the greedy continuation of its prompt alone, token by token, and a row that emits a stop
    token keeps emitting EOS."""
    from modeling_llada import load_model_and_tokenizer
    from tiny_models import tiny_checkpoint

    path = tiny_checkpoint(str(tmp_path / "ar"), causal=True)  # sharp weights: varied continuations
    model, tokenizer = load_model_and_tokenizer(path, device="cpu")
    prompts = [[5, 6, 7], [40, 41, 42, 43, 44, 45]]
    free = [greedy_continuation(model, p, 8, {-1}) for p in prompts]
    assert len(set(free[0])) >= 3 and len(set(free[1])) >= 3
    stop = free[0][2]  # make the first row stop at its third token
    stops = {stop, tokenizer.eos_token_id}
    expected = [greedy_continuation(model, p, 8, stops) for p in prompts]
    assert expected[0][:3] == free[0][:3] and expected[0][3:] == [min(stops)] * 5
    prompt = torch.full((2, 6), tokenizer.pad_token_id)
    mask = torch.zeros_like(prompt)
    for row, p in enumerate(prompts):
        prompt[row, 6 - len(p):], mask[row, 6 - len(p):] = torch.tensor(p), 1
    with torch.no_grad():
        out = eval_reverse.autoregressive_generate(model, prompt, mask, 8, stops)
    assert out[:, 6:].tolist() == expected
    answers = eval_reverse.answer_questions(model, tokenizer, ['What is the line before: "x"?', "Hi"], 8, 8, 8)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


# --- the original release's Chinese poem file (paper Table 4) -------------------------------------------------

# Four well-known couplets in the format of the original's data/poem_data.json.
POEMS = [
    {"first": "窈窕淑女", "second": "君子好逑", "source": "诗经•周南•关雎"},
    {"first": "床前明月光", "second": "疑是地上霜", "source": "李白•静夜思"},
    {"first": "白日依山尽", "second": "黄河入海流", "source": "王之涣•登鹳雀楼"},
    {"first": "海内存知己", "second": "天涯若比邻", "source": "王勃•送杜少府之任蜀州"},
]


def write_poems(tmp_path):
    path = tmp_path / "poem_data.json"
    path.write_text(json.dumps(POEMS, ensure_ascii=False, indent=2), encoding="utf-8")
    return str(path)


def test_chinese_questions_are_the_original_strings():
    """No quotation marks around the line; the instruction ' 直接输出句子即可。' starts with an ASCII space."""
    forward = eval_reverse.build_items(POEMS[:1], "ftb")[0]
    assert forward["question"] == "窈窕淑女的下一句是什么？ 直接输出句子即可。"
    assert forward["target"] == "君子好逑" and forward["source"] == "诗经•周南•关雎"
    backward = eval_reverse.build_items(POEMS[:1], "btf")[0]
    assert backward["question"] == "君子好逑的上一句是什么？ 直接输出句子即可。"
    assert backward["target"] == "窈窕淑女"
    assert eval_reverse.chinese_question("白日依山尽", "ftb") == "白日依山尽的下一句是什么？ 直接输出句子即可。"
    assert eval_reverse.chinese_question("黄河入海流", "btf") == "黄河入海流的上一句是什么？ 直接输出句子即可。"


def test_hits_are_substring_matches():
    assert eval_reverse.is_hit("君子好逑", "君子好逑")
    assert eval_reverse.is_hit("君子好逑", "窈窕淑女，君子好逑。")  # anywhere in the answer
    assert not eval_reverse.is_hit("君子好逑", "君子好求")  # one character off is a miss
    assert not eval_reverse.is_hit("君子好逑", "君子 好逑")
    assert not eval_reverse.is_hit(" 君子好逑", "君子好逑")  # the target is not stripped (nor in the original)


def fake_run(monkeypatch, answers):
    """Replace the model with canned answers; returns the dict that records what answer_questions was given."""
    import modeling_llada

    seen = {}

    def fake_answer_questions(model, tokenizer, questions, gen_length, steps, block_length, **options):
        seen.update(questions=questions, gen_length=gen_length, steps=steps, block_length=block_length, **options)
        return answers[:len(questions)]

    monkeypatch.setattr(modeling_llada, "load_for_script", lambda parser, *a, **k: (None, None))
    monkeypatch.setattr(eval_reverse, "answer_questions", fake_answer_questions)
    return seen


def test_accuracy_counts_substring_hits_with_the_original_defaults(tmp_path, monkeypatch, capsys):
    answers = ["君子好逑", "疑是地上霜。举头望明月", "黄河入海留", "海内存知己"]  # hit, hit, miss, miss
    seen = fake_run(monkeypatch, answers)
    out = tmp_path / "ftb.jsonl"
    accuracy = eval_reverse.main(["--data", write_poems(tmp_path), "--type", "ftb", "--output", str(out)])
    assert accuracy == 50.0 and "accuracy: 50.00% (2/4)" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["hit"] for r in rows] == [True, True, False, False]
    assert [r["answer"] for r in rows] == answers and rows[1]["source"] == "李白•静夜思"
    # the original's settings for a Chinese file: 28 tokens, 28 steps, one block, no CFG, EOS allowed, greedy
    assert (seen["gen_length"], seen["steps"], seen["block_length"]) == (28, 28, 28)
    assert seen["cfg_scale"] == 0 and seen["logits_eos_inf"] is False and seen["chat"] is True
    assert seen["questions"][0] == "窈窕淑女的下一句是什么？ 直接输出句子即可。"


def test_the_original_flags_are_accepted(tmp_path, monkeypatch):
    seen = fake_run(monkeypatch, ["窈窕淑女"] * 4)
    eval_reverse.main(["--data", write_poems(tmp_path), "--gen_length", "32", "--block_length", "8", "--cfg", "0.5",
                       "--eos_inf", "--type", "btf", "--output", str(tmp_path / "btf.jsonl")])
    assert (seen["gen_length"], seen["steps"], seen["block_length"]) == (32, 32, 8)  # steps = gen_length
    assert seen["cfg_scale"] == 0.5 and seen["logits_eos_inf"] is True
    assert seen["questions"][0] == "君子好逑的上一句是什么？ 直接输出句子即可。"


@pytest.mark.parametrize("content, message", [
    (None, "cannot read --data"),
    ('{"first": "窈窕淑女"}', "not a couplet"),
    ('[{"first": "窈窕淑女", "second": 3}]', "not a couplet"),
    ("[1, 2]", "not a couplet"),
    ('"窈窕淑女"', "must hold a JSON list"),
    ("not json\n", "neither a JSON list nor JSON lines"),
    ("[]", "no couplets"),
])
def test_bad_data_is_a_one_line_usage_error(tmp_path, capsys, content, message):
    path = tmp_path / "poems.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        eval_reverse.main(["--data", str(path), "--output", str(tmp_path / "out.jsonl")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # argparse: usage lines, then one error line
    assert ": error: " in error and message in error


@pytest.mark.parametrize("direction", ["ftb", "btf"])
def test_poem_file_runs_end_to_end(direction, tmp_path_factory, tmp_path):
    """The original's file format through the command line: defaults 28/28/28, one JSON line per poem with the
    original's question, and hit exactly when the target is a substring of the answer."""
    model = eval_model_path(tmp_path_factory)
    out = tmp_path / f"{direction}.jsonl"
    result = run([sys.executable, eval_reverse.__file__, "--model", model, "--data", write_poems(tmp_path),
                  "--type", direction, "--device", "cpu", "--output", str(out)], cwd=str(tmp_path))
    assert "gen_length=28 steps=28 block_length=28 cfg=0.0 eos_inf=False" in result.stdout
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(POEMS)
    given, target = ("first", "second") if direction == "ftb" else ("second", "first")
    ask = "的下一句是什么？" if direction == "ftb" else "的上一句是什么？"
    for row, poem in zip(rows, POEMS):
        assert row["question"] == poem[given] + ask + " 直接输出句子即可。"
        assert row["target"] == poem[target] and row["source"] == poem["source"] and row["type"] == direction
        assert row["hit"] == (poem[target] in row["answer"])
    hits = sum(r["hit"] for r in rows)
    assert f"accuracy: {100.0 * hits / len(rows):.2f}% ({hits}/{len(rows)})" in result.stdout


def test_answer_is_the_whole_region_decoded_without_special_tokens(monkeypatch):
    """As the original: all gen_length answer tokens are decoded with skip_special_tokens=True, so text after an
    end-of-text token still counts; a batch of one is sampled without an attention mask (the original's call)."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(os.path.join(ROOT, "data", "tokenizer"))
    line = tokenizer("君子好逑", add_special_tokens=False)["input_ids"]
    answer = line[:1] + [tokenizer.eos_token_id] + line[1:]
    answer += [tokenizer.eos_token_id] * (12 - len(answer))
    calls, prompts = [], []

    def fake_generate(model, prompt, attention_mask=None, **options):
        calls.append(attention_mask)
        prompts.append(prompt.tolist())
        return torch.cat([prompt, torch.tensor([answer] * prompt.shape[0])], dim=1)

    monkeypatch.setattr(eval_reverse, "generate", fake_generate)
    model = type("Stub", (), {"device": torch.device("cpu"),
                              "config": type("Config", (), {"mask_token_id": tokenizer.mask_token_id})()})()
    answers = eval_reverse.answer_questions(model, tokenizer, ["窈窕淑女的下一句是什么？ 直接输出句子即可。"],
                                            12, 12, 12, batch_size=1)
    assert answers == ["君子好逑"] and calls == [None]
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "窈窕淑女的下一句是什么？ 直接输出句子即可。"}],
                                         add_generation_prompt=True, tokenize=False)
    assert prompts == [[tokenizer(chat)["input_ids"]]]  # the original's tokenization of its chat prompt
    eval_reverse.answer_questions(model, tokenizer, ["短", "长一些的问题"], 12, 12, 12, batch_size=2)
    assert calls[-1] is not None and not bool(calls[-1].all())  # padded batch: padding masked out


def test_batched_rows_equal_the_one_at_a_time_run(tmp_path):
    """Left padding is masked out of attention and RoPE is relative, so a padded row's logits and answer equal
    those of the row alone (float32, tiny random model with sharpened weights)."""
    import torch
    from modeling_llada import load_model_and_tokenizer
    from tiny_models import tiny_checkpoint

    # varied weights: answers with 15-18 distinct tokens each, so equality means something
    model, tokenizer = load_model_and_tokenizer(tiny_checkpoint(str(tmp_path / "m"), weights="varied"), device="cpu")
    questions = [eval_reverse.chinese_question(p["first"], "ftb") for p in POEMS]
    questions += ["君子好逑的上一句是什么？ 直接输出句子即可。", 'What is the next line after: "A line,"?']
    alone = eval_reverse.answer_questions(model, tokenizer, questions, 16, 16, 8, batch_size=1)
    together = eval_reverse.answer_questions(model, tokenizer, questions, 16, 16, 8, batch_size=len(questions))
    assert together == alone and len(set(len(tokenizer(q)["input_ids"]) for q in questions)) > 1
    assert min(len(set(tokenizer(a, add_special_tokens=False)["input_ids"])) for a in alone) >= 10

    short = torch.tensor([tokenizer("短问题", add_special_tokens=False)["input_ids"]])
    pad = torch.full((1, 5), tokenizer.pad_token_id)
    padded = torch.cat([pad, short], dim=1)
    mask = torch.cat([torch.zeros_like(pad), torch.ones_like(short)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded, attention_mask=mask).logits[:, 5:], model(short).logits,
                                   atol=1e-4, rtol=1e-4)
