"""train.py as a user runs it: the objectives against closed forms, the options (--grad_accum, --mixed_precision,
--eval_data), bad data, checkpoints, and a SIGKILL followed by --resume."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from collections import Counter

import psutil
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

import train
from tiny_models import ROOT
from modeling_llada import LLaDAModelLM, load_model_and_tokenizer
from train import batch_indices, collate_sft, compute_loss, diffusion_loss, main, make_batch, parse_args

TOKENIZER = os.path.join(ROOT, "data", "tokenizer")
TINY = ["--tokenizer", TOKENIZER, "--d_model", "32", "--n_layers", "2", "--n_heads", "4", "--seq_len", "32",
        "--batch_size", "4", "--eval_batches", "1", "--log_every", "1", "--threads", "1"]


@pytest.fixture
def pretrain_data(tmp_path):
    path = tmp_path / "pretrain.jsonl"
    lines = [json.dumps({"text": f"Line {i}: shall I compare thee to a summer's day? {i * 7} + {i} = {i * 8}."})
             for i in range(60)]
    path.write_text("\n".join(lines) + "\n")
    return path


def sft_lines(n):
    return [json.dumps({"messages": [{"role": "user", "content": f"What is {i} + 1?"},
                                     {"role": "assistant", "content": f"{i} + 1 = {i + 1}."}]}) for i in range(n)]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_command(args, processes=1):
    """train.py's command line as a user types it: plainly, or on `processes` processes through
    accelerate_configs/ddp.yaml (on a free port: other test runs on the machine may hold accelerate's default)."""
    args = [os.path.join(ROOT, "train.py"), *map(str, args)]
    if processes == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
            os.path.join(ROOT, "accelerate_configs", "ddp.yaml"), "--num_processes", str(processes),
            "--num_cpu_threads_per_process", "1", "--main_process_port", str(free_port()), *args]


# ACCELERATE_USE_CPU turns ddp.yaml's GPU processes into CPU ones on gloo, and keeps a single process on the CPU
# too, so runs compared with each other ran on the same device even where there is a GPU
TRAIN_ENV = dict(os.environ, ACCELERATE_USE_CPU="1")


def run_train(*args, processes=1):
    return subprocess.run(train_command(args, processes), cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=TRAIN_ENV)


def log_rows(out):
    """The rows of a run's log.csv, as lists of strings (step, loss, lr, tokens, seconds, eval_loss, replay_loss)."""
    return [row.split(",") for row in (out / "log.csv").read_text().splitlines()[1:]]


def test_diffusion_sft_loss_never_masks_the_prompt_and_normalises_by_answer_length():
    calls = []

    class Recorder(torch.nn.Module):
        def forward(self, x):
            calls.append(x.clone())
            return type("Out", (), {"logits": torch.zeros(*x.shape, 16)})()

    input_ids, prompt_lengths = collate_sft([([3, 4, 5], [6, 7]), ([3, 4], [8, 9, 10, 11])], pad_id=1)
    assert input_ids.tolist() == [[3, 4, 5, 6, 7, 1], [3, 4, 8, 9, 10, 11]]
    torch.manual_seed(0)
    loss = diffusion_loss(Recorder(), input_ids, prompt_lengths, mask_id=2)
    noisy = calls[0]
    assert (noisy[0, :3] == input_ids[0, :3]).all() and (noisy[1, :2] == input_ids[1, :2]).all()
    # Uniform logits: every masked token costs log 16, weighted by 1/p, per row divided by its answer length.
    torch.manual_seed(0)
    t = torch.rand(2)
    p = (1 - 1e-3) * t + 1e-3
    masked = torch.rand(2, 6) < p[:, None]
    masked[0, :3] = False
    masked[1, :2] = False
    expected = sum(masked[r].sum() * torch.log(torch.tensor(16.)) / p[r] / n for r, n in enumerate([3, 4])) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


class TablePredictor(torch.nn.Module):
    """A stand-in for the network whose cross entropies are known in closed form: the logits at a position are a
    fixed random row chosen by the token at that position. It records what it was given."""

    def __init__(self, vocab=16):
        super().__init__()
        self.table = 3 * torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0))
        self.inputs = []

    def forward(self, input_ids):
        self.inputs.append(input_ids.clone())
        return types.SimpleNamespace(logits=self.table[input_ids])

    def cost(self, given, target):
        """The cross entropy of `target` at a position that holds `given`."""
        return -torch.log_softmax(self.table[given], dim=-1)[target]


def test_pretraining_loss_divides_by_batch_times_length_and_estimates_the_mean_cross_entropy():
    """GUIDELINES.md: the cross entropy of each masked token divided by its p, summed, divided by batch size x
    sequence length (not by the number of masked tokens), which makes its expectation over the noise the mean cross
    entropy of every token predicted from a mask."""
    model, mask_id = TablePredictor(), 15
    input_ids = torch.randint(0, 15, (3, 10), generator=torch.Generator().manual_seed(1))
    loss = diffusion_loss(model, input_ids, None, mask_id, generator=torch.Generator().manual_seed(2))
    draws = torch.Generator().manual_seed(2)  # the same draws: t for each sequence, then a uniform for each token
    p = (1 - 1e-3) * torch.rand(3, generator=draws) + 1e-3
    masked = torch.rand(3, 10, generator=draws) < p[:, None]
    assert torch.equal(model.inputs[0], torch.where(masked, mask_id, input_ids))
    assert 0 < masked.sum() < masked.numel()
    expected = sum(model.cost(mask_id, input_ids[r, i]) / p[r] for r, i in masked.nonzero().tolist()) / (3 * 10)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)

    input_ids = torch.randint(0, 15, (8, 16), generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(4)
    mean = torch.stack([diffusion_loss(model, input_ids, None, mask_id, generator) for _ in range(1000)]).mean()
    assert mean.item() == pytest.approx(model.cost(mask_id, input_ids).mean().item(), rel=0.05)


def test_ar_loss_is_next_token_cross_entropy_on_the_clean_text_and_only_the_answer_for_sft():
    model = TablePredictor()
    args = parse_args(["--stage", "pretrain", "--objective", "ar", "--data", "x", "--out", "y", "--tokenizer", "t",
                       "--max_steps", "1"])
    input_ids = torch.randint(0, 15, (3, 9), generator=torch.Generator().manual_seed(1))
    loss = compute_loss(args, model, (input_ids, None), mask_id=15)
    assert torch.equal(model.inputs[-1], input_ids[:, :-1])  # nothing masked, the last token never an input
    expected = torch.stack([model.cost(input_ids[r, i - 1], input_ids[r, i]) for r in range(3) for i in range(1, 9)])
    assert loss.item() == pytest.approx(expected.mean().item(), rel=1e-5)

    # SFT: each answer token, the EOS padding included, predicted from the token before it; no prompt token
    input_ids, prompt_lengths = collate_sft([([1, 2, 3], [4, 5]), ([6, 7], [8, 9, 10, 11]), ([1, 2, 3, 4, 5], [6])],
                                            pad_id=14)
    loss = compute_loss(args, model, (input_ids, prompt_lengths), mask_id=15)
    answer = [(r, i) for r in range(3) for i in range(int(prompt_lengths[r]), input_ids.shape[1])]
    assert len(answer) == 3 + 4 + 1
    expected = torch.stack([model.cost(input_ids[r, i - 1], input_ids[r, i]) for r, i in answer])
    assert loss.item() == pytest.approx(expected.mean().item(), rel=1e-5)


def test_one_pretraining_batch_in_a_hundred_is_cut_to_a_random_length():
    """Over 20,000 seeded draws of make_batch: 1% of the batches cut, each whole batch to one length uniform in
    1..seq_len; autoregressive batches never."""
    argv = ["--stage", "pretrain", "--data", "x", "--out", "y", "--tokenizer", "t", "--max_steps", "1",
            "--seq_len", "8"]
    source = torch.arange(40 * 8).view(40, 8)
    indices = torch.tensor([3, 17, 5, 30])
    args, generator = parse_args(argv), torch.Generator().manual_seed(0)
    widths = Counter()
    for _ in range(20000):
        input_ids, _ = make_batch(source, indices, "pretrain", args, 1, "cpu", generator)
        widths[input_ids.shape[1]] += 1
        if input_ids.shape[1] < 8:
            assert torch.equal(input_ids, source[indices, :input_ids.shape[1]])
    # a cut to 8 leaves the batch whole: 1% x 7/8 of the batches visibly cut, 175 expected (standard deviation 13)
    assert 120 < 20000 - widths[8] < 230, widths
    assert sorted(widths) == list(range(1, 9)) and all(8 < widths[n] < 50 for n in range(1, 8)), widths  # 25 each
    ar = parse_args([*argv, "--objective", "ar"])
    assert all(make_batch(source, indices, "pretrain", ar, 1, "cpu", generator)[0].shape == (4, 8) for _ in range(2000))


def test_grouped_batches_hold_similar_lengths_cover_the_epoch_and_depend_only_on_the_step():
    lengths = torch.randint(5, 500, (1000,), generator=torch.Generator().manual_seed(0))
    steps_per_epoch = 1000 // 16
    epoch = [batch_indices(1000, 16, step, seed=3, lengths=lengths) for step in range(steps_per_epoch)]
    seen = torch.cat(epoch)
    assert len(set(seen.tolist())) == len(seen) == steps_per_epoch * 16
    grouped_spread = torch.stack([lengths[b].max() - lengths[b].min() for b in epoch]).float().mean()
    random_spread = torch.stack([lengths[b].max() - lengths[b].min()
                                 for b in (batch_indices(1000, 16, s, seed=3) for s in range(steps_per_epoch))])
    assert grouped_spread < random_spread.float().mean() / 10
    assert torch.equal(batch_indices(1000, 16, 7, seed=3, lengths=lengths), epoch[7])  # resumable
    assert not torch.equal(batch_indices(1000, 16, steps_per_epoch + 7, seed=3, lengths=lengths), epoch[7])


def test_sft_padding_rounds_up_to_the_multiple_but_not_past_seq_len():
    pairs = [([3, 4, 5], [6, 7]), ([3, 4], [8, 9, 10])]
    assert collate_sft(pairs, pad_id=1, multiple_of=4)[0].shape == (2, 8)
    assert collate_sft(pairs, pad_id=1, multiple_of=4, max_width=6)[0].shape == (2, 6)
    assert collate_sft(pairs, pad_id=1, multiple_of=4, max_width=3)[0].shape == (2, 5)


def test_pretrain_sft_and_ar_runs_write_loadable_checkpoints_and_logs(tmp_path, pretrain_data):
    sft = tmp_path / "sft.jsonl"
    sft.write_text("\n".join(sft_lines(40)) + "\n")
    main(["--stage", "pretrain", "--data", str(pretrain_data), "--out", str(tmp_path / "pt"), "--max_steps", "4",
          "--save_every", "2", "--eval_every", "2", *TINY])
    assert sorted(os.listdir(tmp_path / "pt")) == ["args.json", "final", "log.csv", "loss.png", "step-0000002",
                                                    "step-0000004"]
    main(["--stage", "sft", "--data", str(sft), "--init", str(tmp_path / "pt" / "final"), "--out",
          str(tmp_path / "sft"), "--max_steps", "4", "--save_every", "4", "--eval_every", "4", "--seq_len", "32",
          "--batch_size", "4", "--threads", "1", "--log_every", "1", "--replay_data", str(pretrain_data),
          "--replay_every", "2", "--replay_batch_size", "2", "--group_by_length", "--pad_to_multiple_of", "8"])
    model = AutoModel.from_pretrained(tmp_path / "sft" / "final")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "sft" / "final")
    assert isinstance(model, LLaDAModelLM) and not model.config.causal
    assert tokenizer.mask_token_id == model.config.mask_token_id
    rows = (tmp_path / "sft" / "log.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,tokens,seconds,eval_loss,replay_loss" and len(rows) == 5
    # Steps 2 and 4 are replayed pretraining batches (2 rows of up to 32 tokens: 1% are cropped, and step 4's
    # is); steps 1 and 3 are SFT batches.
    step, _, _, tokens, _, _, replay_loss = zip(*(row.split(",") for row in rows[1:]))
    assert replay_loss[0] == "" and replay_loss[1] and replay_loss[3] != replay_loss[1]
    assert int(tokens[1]) - int(tokens[0]) == 2 * 32 and (int(tokens[3]) - int(tokens[2])) % 2 == 0
    main(["--stage", "pretrain", "--objective", "ar", "--data", str(pretrain_data), "--out", str(tmp_path / "ar"),
          "--max_steps", "2", "--save_every", "2", "--eval_every", "2", *TINY])
    assert AutoModel.from_pretrained(tmp_path / "ar" / "final").config.causal


@pytest.mark.parametrize("grad_clip", ["0", "0.05"])
def test_grad_accum_2_of_b_rows_steps_as_one_batch_of_2b(tmp_path, pretrain_data, monkeypatch, grad_clip):
    """At each of its steps the optimizer gets the gradient of the whole global batch: --grad_accum 2 of 2 rows
    gives the gradients of --grad_accum 1 of the same 4 rows, step by step. The autoregressive objective, as its loss
    draws no noise (the masks of 2 x 2 rows and of 4 rows are other draws). Unclipped, so that the gradient's scale
    shows (AdamW's update would hide it); clipped, where the sum must be clipped, not each micro-batch."""
    gradients = []

    class RecordingAdamW(torch.optim.AdamW):
        def step(self, closure=None):
            gradients[-1].append([p.grad.clone() for group in self.param_groups for p in group["params"]])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "AdamW", RecordingAdamW)
    logs = []
    for grad_accum, batch_size in ((2, 2), (1, 4)):
        gradients.append([])
        out = tmp_path / f"accum-{grad_accum}"
        main(["--stage", "pretrain", "--objective", "ar", "--data", pretrain_data, "--out", out, *TINY, "--batch_size",
              batch_size, "--grad_accum", grad_accum, "--grad_clip", grad_clip, "--max_steps", "3", "--warmup_steps",
              "1", "--lr", "1e-2", "--save_every", "3", "--eval_every", "3"])
        logs.append(log_rows(out))
    accumulated, whole = gradients
    assert len(accumulated) == len(whole) == 3  # one optimizer step per global batch
    for step, (a, w) in enumerate(zip(accumulated, whole), start=1):
        for a_grad, w_grad in zip(a, w):
            torch.testing.assert_close(a_grad, w_grad, rtol=1e-4, atol=1e-6, msg=lambda m: f"step {step}: {m}")
    for a_row, w_row in zip(*logs):  # the logged loss is the global batch's; lr and tokens seen per step
        assert float(a_row[1]) == pytest.approx(float(w_row[1]), abs=2e-5) and a_row[2:4] == w_row[2:4]
    accumulated, whole = (load_file(tmp_path / f"accum-{n}" / "final" / "model.safetensors") for n in (2, 1))
    for name, tensor in whole.items():
        torch.testing.assert_close(accumulated[name], tensor, rtol=1e-4, atol=1e-5, msg=name)


def test_a_global_batch_larger_than_the_data_is_a_clear_error(tmp_path, pretrain_data):
    """60 chunks of 32 tokens, fewer than 4 rows x 16 accumulation steps; or, a global batch (32) held out for the
    eval loss, 28 left for 4 x 8."""
    argv = ["--stage", "pretrain", "--data", pretrain_data, *TINY, "--max_steps", "1", "--out", tmp_path / "run"]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--eval_data", pretrain_data, "--grad_accum", "16"])
    assert "60 training examples, fewer than one global batch (4 x 1 processes x 16 accumulation steps); lower " \
           "--batch_size or --grad_accum" in str(exit_info.value)
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--grad_accum", "8"])
    assert "28 training examples (32 more held out for the eval loss, or pass --eval_data), fewer than one global " \
           "batch (4 x 1 processes x 8 accumulation steps)" in str(exit_info.value)


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one state per process and refuses another --mixed_precision in it; a test that trains in
    process with several finds it empty and leaves it empty."""
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state()
    yield AcceleratorState._reset_state
    AcceleratorState._reset_state()


def test_mixed_precision_bf16_runs_the_network_in_bf16_and_keeps_float32_weights(tmp_path, pretrain_data, monkeypatch,
                                                                                 fresh_accelerate_state):
    head_dtypes = []
    build_model = train.build_model

    def build_watched_model(*args):
        model = build_model(*args)
        model.model.transformer.ff_out.register_forward_hook(lambda module, inputs, output:
                                                             head_dtypes.append(output.dtype))
        return model

    monkeypatch.setattr(train, "build_model", build_watched_model)
    common = ["--stage", "pretrain", "--data", pretrain_data, *TINY, "--max_steps", "2", "--save_every", "2",
              "--eval_every", "2"]
    main([*common, "--out", tmp_path / "fp32"])
    fresh_accelerate_state()
    main([*common, "--out", tmp_path / "bf16", "--mixed_precision", "bf16"])
    assert head_dtypes == [torch.float32] * 3 + [torch.bfloat16] * 3  # two training steps and the eval
    fp32, bf16 = (load_file(tmp_path / run / "final" / "model.safetensors") for run in ("fp32", "bf16"))
    assert {tensor.dtype for tensor in bf16.values()} == {torch.float32}
    assert any(not torch.equal(bf16[name], fp32[name]) for name in fp32)
    for fp32_row, bf16_row in zip(log_rows(tmp_path / "fp32"), log_rows(tmp_path / "bf16")):
        assert fp32_row[1] != bf16_row[1] and float(bf16_row[1]) == pytest.approx(float(fp32_row[1]), rel=0.02)


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 trains on a GPU")
def test_mixed_precision_fp16_on_the_cpu_is_an_error_not_float32(tmp_path, pretrain_data, fresh_accelerate_state):
    with pytest.raises(SystemExit) as exit_info:
        main(["--stage", "pretrain", "--data", pretrain_data, *TINY, "--max_steps", "1", "--mixed_precision", "fp16",
              "--out", tmp_path / "fp16"])
    assert "--mixed_precision fp16 needs a GPU" in str(exit_info.value) and "bf16" in str(exit_info.value)


@pytest.mark.parametrize("objective", ["ar", "diffusion"])
def test_eval_loss_is_the_loss_on_eval_data(tmp_path, pretrain_data, objective):
    """log.csv's eval_loss at the last step equals the final model's loss on --eval_data's first --eval_batches x
    --batch_size chunks, computed here from the file: whole chunks (no training crop: batch 3 of the eval would
    be cut otherwise), the diffusion masks drawn from seed 1234."""
    eval_data = tmp_path / "eval.jsonl"
    eval_data.write_text("".join(json.dumps({"text": f"Eval {i}: rough winds do shake the darling buds of May."})
                                 + "\n" for i in range(12)))
    out = tmp_path / "run"
    main(["--stage", "pretrain", "--objective", objective, "--data", pretrain_data, "--eval_data", eval_data, "--out",
          out, *TINY, "--batch_size", "2", "--eval_batches", "4", "--max_steps", "2", "--eval_every", "2",
          "--save_every", "2", "--lr", "1e-2", "--warmup_steps", "1"])
    logged = [row[5] for row in log_rows(out)]
    assert logged[0] == "" and logged[1]

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    model = LLaDAModelLM.from_pretrained(out / "final").eval()
    stream = []  # <|startoftext|> text <|endoftext|>, documents packed into --seq_len chunks
    for line in eval_data.read_text().splitlines():
        text = json.loads(line)["text"]
        stream += [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"],
                   tokenizer.eos_token_id]
    chunks = torch.tensor(stream[:len(stream) // 32 * 32]).view(-1, 32)
    assert len(chunks) >= 8
    generator = torch.Generator().manual_seed(1234)
    losses = []
    with torch.no_grad():
        for batch in chunks[:8].split(2):
            if objective == "ar":
                logits = model(batch[:, :-1]).logits
                losses.append(F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten()))
            else:
                losses.append(diffusion_loss(model, batch, None, tokenizer.mask_token_id, generator))
    assert float(logged[1]) == pytest.approx(torch.stack(losses).mean().item(), abs=2e-5)


def test_bad_data_is_reported_with_file_and_line_or_skipped(tmp_path):
    lines = sft_lines(30)
    lines[4] = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]})
    lines[9] = json.dumps({"text": "no messages here"})
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(lines) + "\n")
    common = ["--stage", "sft", "--data", data, "--max_steps", "1", *TINY]
    misplaced = run_train("--stage", "pretrain", "--data", data, "--replay_data", data, "--max_steps", "1", *TINY,
                          "--out", tmp_path / "c")
    assert misplaced.returncode == 2 and "use it with --stage sft" in misplaced.stderr
    failed = run_train(*common, "--out", tmp_path / "a")
    assert failed.returncode != 0
    assert f"{data}:5: empty answer" in failed.stderr and "Traceback" not in failed.stderr
    skipped = run_train(*common, "--out", tmp_path / "b", "--on_bad_data", "skip")
    assert skipped.returncode == 0, skipped.stderr
    assert f"{data}:5" in skipped.stderr and f"{data}:10" in skipped.stderr and "skipped 2 bad lines" in skipped.stderr


@pytest.mark.parametrize("kind", ["full", "lora", "grad_accum", "ddp"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, pretrain_data, checkpoint, kind):
    """Kill -9 mid-run (after the step-6 checkpoint, well before the end), resume, and get the uninterrupted run's
    weights bit for bit: full pretraining, a LoRA (dropout on) + gradient checkpointing SFT of a checkpoint,
    pretraining with --grad_accum 2 (the accumulation must restart on a step boundary), and pretraining on 2 CPU
    processes through accelerate (every process killed, each one's random state restored)."""
    processes = 2 if kind == "ddp" else 1
    if kind == "lora":
        sft = tmp_path / "sft.jsonl"
        sft.write_text("\n".join(sft_lines(40)) + "\n")
        common = ["--stage", "sft", "--data", sft, "--init", checkpoint, "--lora_r", "4", "--lora_dropout", "0.1",
                  "--gradient_checkpointing", "--seq_len", "32", "--batch_size", "4", "--eval_batches", "1",
                  "--log_every", "1", "--threads", "1"]
        weights = "adapter_model.safetensors"
    else:
        common = ["--stage", "pretrain", "--data", pretrain_data, *TINY]
        common += {"full": [], "grad_accum": ["--batch_size", "2", "--grad_accum", "2"],
                   "ddp": ["--batch_size", "2"]}[kind]
        weights = "model.safetensors"
    common += ["--max_steps", "30", "--save_every", "3", "--eval_every", "6"]
    reference = run_train(*common, "--out", tmp_path / "straight", processes=processes)
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    process = subprocess.Popen(train_command([*common, "--out", out], processes), cwd=ROOT, env=TRAIN_ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (out / "step-0000006").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # land somewhere inside the next steps or the next checkpoint write
    assert process.poll() is None, "the run ended before the kill"
    # the launcher and every training process it started: torchrun gives each one a session of its own, so
    # killing the launcher (or its process group) would leave them training
    family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    assert processes == 1 or len(family) >= 1 + processes, family
    for member in family:
        member.send_signal(signal.SIGKILL)
    process.wait()
    assert not psutil.wait_procs(family, timeout=30)[1]
    assert not (out / "final").exists()
    checkpoints = sorted(n for n in os.listdir(out) if n.startswith("step-"))
    assert checkpoints and checkpoints[-1] < "step-0000030", checkpoints
    for name in checkpoints:  # whatever survived the kill loads
        if kind == "lora":
            load_model_and_tokenizer(adapter=str(out / name / "model"), device="cpu")
        else:
            AutoModel.from_pretrained(out / name / "model")
    resumed = run_train(*common, "--out", out, "--resume", processes=processes)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {out / checkpoints[-1]}" in resumed.stdout + resumed.stderr
    final = load_file(out / "final" / weights)
    expected = load_file(tmp_path / "straight" / "final" / weights)
    assert final.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(final[name], tensor), name
    log, straight = log_rows(out), log_rows(tmp_path / "straight")
    assert [int(row[0]) for row in log] == list(range(1, 31))
    assert [(row[1], row[3]) for row in log] == [(row[1], row[3]) for row in straight]  # losses, tokens seen
    seconds = [float(row[4]) for row in log]
    assert seconds == sorted(seconds), seconds  # training time counts on over the resume


def test_existing_run_without_resume_is_refused(tmp_path, pretrain_data):
    common = ["--stage", "pretrain", "--data", pretrain_data, "--max_steps", "2", "--save_every", "2", *TINY,
              "--out", tmp_path / "run"]
    assert run_train(*common).returncode == 0
    again = run_train(*common)
    assert again.returncode == 2 and "pass --resume" in again.stderr and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr
