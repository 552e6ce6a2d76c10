"""Checks of opencompass/llada_opencompass.py that need the OpenCompass package, so they run under
OpenCompass's own Python (its virtual environment): test_eval_opencompass.py starts
`<that python> -m pytest tests/opencompass_wrapper_checks.py`. The file name keeps the main test run from
collecting it."""

import csv
import json
import os
import random
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "opencompass"), ROOT, os.path.dirname(os.path.abspath(__file__))]

import llada_opencompass  # noqa: E402
from llada_opencompass import (GPQAShuffledDataset, LLaDABaseModel, LLaDAModel, ReleaseBBHEvaluator,  # noqa: E402
                               ReleaseMBPPEvaluator, bbh_freeform_answer, gpqa_correct_answer_postprocess,
                               gsm8k_answer_is_postprocess)
from opencompass.datasets import MBPPEvaluator  # noqa: E402
from opencompass.openicl.icl_prompt_template import PromptTemplate  # noqa: E402
from tiny_models import tiny_checkpoint  # noqa: E402


@pytest.mark.parametrize("text, expected", [
    ("So the answer is 42.\nQuestion: what is 7?", "42"),
    ("The Answer is: -3.5 apples", "-3.5"),
    ("4 + 5 = 9 and then 9 * 2 = 18\nQuestion: 3 + 3 = 6", "18"),
    ("no number at all", "NULL"),
])
def test_gsm8k_base_answer(text, expected):
    assert gsm8k_answer_is_postprocess(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Thinking... The correct answer is (B)", "B"),
    ("the CORRECT answer is ( C ) and not (D)", "C"),
    ("ANSWER: A", " "),
])
def test_gpqa_answer_letter(text, expected):
    assert gpqa_correct_answer_postprocess(text) == expected


def test_gpqa_options_shuffled_as_the_original(tmp_path):
    """Seeding Python's global generator once and shuffling row by row (the original's loader) gives the same
    options and answer letters as GPQAShuffledDataset."""
    header = [f"c{i}" for i in range(12)]
    header[7] = "Question"
    rows = [[""] * 7 + [f"question {n}", f"right {n}", f"wrong {n}a", f"wrong {n}b", f"wrong {n}c"] for n in range(9)]
    with open(tmp_path / "gpqa_diamond.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header] + rows)
    dataset = GPQAShuffledDataset.load(str(tmp_path), "gpqa_diamond.csv")
    random.seed(0)
    letters = set()
    for row, item in zip(rows, dataset):
        options = row[8:12]
        random.shuffle(options)
        assert [item[letter] for letter in "ABCD"] == options
        assert item[item["answer"]] == row[8] and item["question"] == row[7]
        letters.add(item["answer"])
    assert len(dataset) == 9 and len(letters) > 1


def test_mbpp_scored_as_the_original():
    """A Base model's answer cut at '[DONE]' keeps the quotes of the few-shot format: the original scoring strips
    them and compares with plain asserts (4 == 4.0 holds); pip's scoring fails the same answer."""
    prediction = " 'def add(a, b):\r\n    return a + b' \n"
    tests = "assert add(1, 2) == 3\nassert add(2, 2) == 4.0"
    assert ReleaseMBPPEvaluator()._process_answer(prediction) == "def add(a, b):\r\n    return a + b"
    assert ReleaseMBPPEvaluator().score([prediction], [tests])["pass"] == 1
    assert MBPPEvaluator().score([prediction], [tests])["pass"] == 0
    assert ReleaseMBPPEvaluator().score([" 'def add(a, b):\n    return a - b' "], [tests])["pass"] == 0


def test_bbh_free_form_reads_the_first_answer():
    text = "Let's think. So the answer is Yes.\n\nQ: Is the sky green?\nA: So the answer is No."
    assert bbh_freeform_answer(text) == "Yes"
    assert bbh_freeform_answer("So the answer is **valid**.") == "valid"
    scores = ReleaseBBHEvaluator().score([text, "so the answer is yes.", "the answer is 12."], ["Yes", "Yes", "12"])
    assert scores["score"] == pytest.approx(200 / 3)  # case-sensitive, as the original


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(str(tmp_path_factory.mktemp("tiny")), weights="varied", max_sequence_length=512)


def few_shot_prompt():
    """What a few-shot dataset template (HUMAN / BOT rounds, like gsm8k_gen's) hands the model."""
    template = PromptTemplate(template=dict(round=[dict(role="HUMAN", prompt="Question: 2 + 2?"),
                                                   dict(role="BOT", prompt="4"),
                                                   dict(role="HUMAN", prompt="Question: {question}")]))
    return template.generate_item({"question": "3 + 3?"})


def test_instruct_keeps_roles_and_ignores_max_out_len(checkpoint, monkeypatch):
    """The Instruct wrapper renders few-shot rounds as chat turns and samples on the configured canvas whatever
    max_out_len says; the answer is the whole canvas decoded without special tokens."""
    model = LLaDAModel(path=checkpoint, gen_length=16, gen_steps=8, gen_blocksize=8)
    parsed = model.parse_template(few_shot_prompt(), mode="gen")
    messages = llada_opencompass.to_messages(parsed)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert model._prompt_text(parsed) == model.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                                             tokenize=False)
    calls = []
    real_generate = llada_opencompass.generate

    def recording_generate(*args, **kwargs):
        calls.append(kwargs)
        out = real_generate(*args, **kwargs)
        out[:, -2] = model.eos_id  # text after an EOS stays in the answer, as in the original
        return out
    monkeypatch.setattr(llada_opencompass, "generate", recording_generate)
    answers = model.generate([parsed, parsed], max_out_len=4)
    assert [(c["gen_length"], c["steps"], c["block_length"]) for c in calls] == [(16, 8, 8), (16, 8, 8)]
    assert len(answers) == 2 and answers[0] == answers[1]
    prompt_len = len(model._ids(model._prompt_text(parsed)))
    canvas = real_generate(model.model, torch.tensor([model._ids(model._prompt_text(parsed))]), steps=8,
                           gen_length=16, block_length=8, mask_id=model.mask_id, eos_id=model.eos_id,
                           eot_id=model.eot_id)[0, prompt_len:]
    canvas[-2] = model.eos_id
    assert answers[0] == model.tokenizer.decode(canvas, skip_special_tokens=True)


def test_base_takes_plain_text_and_cuts_at_stop_words(checkpoint, monkeypatch):
    model = LLaDABaseModel(path=checkpoint, gen_length=8, gen_steps=8, gen_blocksize=8, stop_words=["[DONE]"])
    parsed = model.parse_template(few_shot_prompt(), mode="gen")
    assert isinstance(parsed, str) and "Question: 2 + 2?" in parsed and "<|start_header_id|>" not in parsed
    assert model._prompt_text(parsed) == parsed
    monkeypatch.setattr(model.tokenizer, "decode", lambda tokens, **kwargs: " 'code' [DONE] more")
    assert model.generate([parsed], max_out_len=512) == [" 'code' "]


def test_peft_path_merges_an_adapter(checkpoint, tmp_path):
    """The original wrapper's `peft_path` knob: a LoRA adapter merged into the model."""
    from peft import LoraConfig, get_peft_model

    from modeling_llada import LLaDAModelLM
    torch.manual_seed(1)
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(LLaDAModelLM.from_pretrained(checkpoint), lora).save_pretrained(str(tmp_path))
    ids = torch.tensor([[5, 6, 7, 8]])
    plain = LLaDAModel(path=checkpoint, device="cpu").model(ids).logits
    adapted = LLaDAModel(path=checkpoint, peft_path=str(tmp_path), device="cpu").model(ids).logits
    assert not torch.allclose(plain, adapted)


@pytest.mark.parametrize("knobs, message", [(dict(gen_length=100, gen_blocksize=32), "multiple of block_length"),
                                            (dict(temperature=float("nan")), "finite"),
                                            (dict(threshold="abc"), "threshold must be a number"),
                                            (dict(cache="bogus"), "cache must be one of"),
                                            (dict(early_exit="maybe"), "early_exit must be true or false"),
                                            (dict(threshold=0.9, factor=1.0), "threshold or factor"),
                                            (dict(early_exit=True, diff_logits_eos_inf=True), "early_exit")])
def test_bad_knobs_fail_when_the_model_is_built(checkpoint, knobs, message):
    with pytest.raises(ValueError, match=message) as error:
        LLaDAModel(path=checkpoint, **knobs)
    assert "\n" not in str(error.value)


def test_fast_knobs_reach_the_sampler_and_speed_is_filed_per_predictions_file(checkpoint, tmp_path):
    """The knobs cache / factor / early_exit (here as strings) reach generate(): the answers are generate()'s with
    those options, in fewer forward passes than the reference's (the random model is never confident, but the factor
    rule commits two or more positions per step). Called from an OpenCompass inferencer's inference() (whose locals
    name the predictions file), the speed of the answers goes to <run folder>/speed/<model abbr>/<dataset>.json."""
    model = LLaDAModel(path=checkpoint, gen_length=16, gen_steps=16, gen_blocksize=8, batch_size_=2, cache="dual",
                       factor="3", early_exit="true")
    fast = dict(cache="dual", factor=3.0, early_exit=True)
    assert model.fast == dict(fast, threshold=None, block_logits=None)
    prompts = ["What is 2 + 2?", "Compute 7 x 8.", "Hello"]

    def inference(output_json_filepath, output_json_filename):  # how OpenCompass's inferencers call the model
        return model.generate(prompts, max_out_len=16)

    answers = inference(str(tmp_path / "run" / "predictions" / "tiny-abbr"), "arith.json")
    row_forwards = 0
    for start in (0, 2):
        chunk = [model._ids(model._prompt_text(p)) for p in prompts[start:start + 2]]
        width = max(map(len, chunk))
        ids = torch.tensor([[model.pad_id] * (width - len(c)) + c for c in chunk])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
        stats = {}
        out = llada_opencompass.generate(model.model, ids, attention_mask=mask, steps=16, gen_length=16,
                                         block_length=8, mask_id=model.mask_id, eos_id=model.eos_id,
                                         eot_id=model.eot_id, stats=stats, **fast)
        for row, answer in zip(out[:, width:], answers[start:start + 2]):
            assert answer == model.tokenizer.decode(row, skip_special_tokens=True)
        row_forwards += stats["row_forwards"]
    with open(tmp_path / "run" / "speed" / "tiny-abbr" / "arith.json") as f:
        record = json.load(f)
    assert record["settings"] == dict(gen_length=16, steps=16, block_length=8, batch_size=2, threshold=None,
                                      block_logits=None, **fast)
    assert record["counts"]["answers"] == 3 and record["counts"]["answer_tokens"] == 48
    assert record["counts"]["row_forwards"] == row_forwards < 3 * 16  # fewer than the reference's, one per step


def test_quantization_and_device_map_knobs_reach_the_loader(checkpoint, tmp_path):
    """quantization (bitsandbytes, on the bundled model: its CPU kernels need layers 64 wide or more) and
    device_map / max_memory / offload_folder (accelerate's split, here over the CPU and disk)."""
    pytest.importorskip("bitsandbytes")
    quantised = LLaDAModel(path="bundled", quantization="int4", device="cpu")
    assert type(quantised.model.model.transformer.blocks[0].q_proj).__name__ == "Linear4bit"
    split = LLaDAModel(path=checkpoint, device_map="auto", max_memory="cpu:600KB", offload_folder=str(tmp_path),
                       gen_length=16, gen_steps=16, gen_blocksize=16)
    assert set(split.model.hf_device_map.values()) == {"cpu", "disk"}
    whole = LLaDAModel(path=checkpoint, device="cpu", gen_length=16, gen_steps=16, gen_blocksize=16)
    assert split.generate(["What is 2 + 3?"], max_out_len=16) == whole.generate(["What is 2 + 3?"], max_out_len=16)
