"""train.py as a user runs it: objectives, bad data, checkpoints, and a SIGKILL followed by --resume."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from tiny_models import ROOT
from modeling_llada import LLaDAModelLM, load_model_and_tokenizer
from train import batch_indices, collate_sft, diffusion_loss, main

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


def run_train(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


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


@pytest.mark.parametrize("kind", ["full", "lora"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, pretrain_data, checkpoint, kind):
    """Kill -9 mid-run (after the step-6 checkpoint, well before the end), resume, and get the uninterrupted run's
    weights bit for bit: full pretraining, or a LoRA (dropout on) + gradient checkpointing SFT of a checkpoint."""
    if kind == "full":
        common = ["--stage", "pretrain", "--data", pretrain_data, *TINY]
        weights = "model.safetensors"
    else:
        sft = tmp_path / "sft.jsonl"
        sft.write_text("\n".join(sft_lines(40)) + "\n")
        common = ["--stage", "sft", "--data", sft, "--init", checkpoint, "--lora_r", "4", "--lora_dropout", "0.1",
                  "--gradient_checkpointing", "--seq_len", "32", "--batch_size", "4", "--eval_batches", "1",
                  "--log_every", "1", "--threads", "1"]
        weights = "adapter_model.safetensors"
    common += ["--max_steps", "30", "--save_every", "3", "--eval_every", "6"]
    reference = run_train(*common, "--out", tmp_path / "straight")
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *map(str, common), "--out", str(out)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (out / "step-0000006").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # land somewhere inside the next steps or the next checkpoint write
    assert process.poll() is None, "the run ended before the kill"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "final").exists()
    checkpoints = sorted(n for n in os.listdir(out) if n.startswith("step-"))
    assert checkpoints and checkpoints[-1] < "step-0000030", checkpoints
    for name in checkpoints:  # whatever survived the kill loads
        if kind == "full":
            AutoModel.from_pretrained(out / name / "model")
        else:
            load_model_and_tokenizer(adapter=str(out / name / "model"), device="cpu")
    resumed = run_train(*common, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {out / checkpoints[-1]}" in resumed.stdout + resumed.stderr
    final = load_file(out / "final" / weights)
    expected = load_file(tmp_path / "straight" / "final" / weights)
    assert final.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(final[name], tensor), name
    log = [line.split(",") for line in (out / "log.csv").read_text().splitlines()[1:]]
    straight = [line.split(",") for line in (tmp_path / "straight" / "log.csv").read_text().splitlines()[1:]]
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
