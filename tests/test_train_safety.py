"""train.py against careless and hostile input (issue 16): finished runs are not overwritten, damaged checkpoints
are skipped with a warning and never resumed from, the log's clock survives a resume, bad bytes are bad data."""
import itertools
import json
import os
import shutil
import types

import pytest
import torch
from safetensors.torch import load_file

import train
from test_train import TINY, log_rows, sft_lines
from train import main, parse_args

RUN = ["--stage", "pretrain", "--max_steps", "6", "--save_every", "2", "--keep_checkpoints", "0", *TINY]


def text_lines(n):
    return [json.dumps({"text": f"Line {i}: shall I compare thee to a summer's day? {i * 7} + {i} = {i * 8}."})
            for i in range(n)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "pretrain.jsonl"
    path.write_text("\n".join(text_lines(60)) + "\n")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data):
    """A finished 6-step run keeping every checkpoint (--keep_checkpoints 0): step-2, step-4, step-6, final/."""
    out = tmp_path_factory.mktemp("finished") / "run"
    main([*RUN, "--data", data, "--out", out])
    assert sorted(n for n in os.listdir(out) if n.startswith("step-")) == [f"step-000000{i}" for i in (2, 4, 6)]
    return out


def usage_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_a_finished_run_is_kept_unless_resume_or_overwrite(tmp_path, capsys, finished, data):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    for name in ("step-0000002", "step-0000004", "step-0000006"):  # the checkpoints pruned, the work kept
        shutil.rmtree(out / name)
    (out / "notes.txt").write_text("mine")
    before = {name: (out / name).read_bytes() for name in ("log.csv", "final/model.safetensors")}
    argv = [*RUN, "--data", data, "--out", out]
    error = usage_error(capsys, argv)
    assert f"{out} already holds a run (final, log.csv)" in error and "--resume" in error and "--overwrite" in error
    assert "no step-* checkpoint" in usage_error(capsys, [*argv, "--resume"])
    assert "pass one of them" in usage_error(capsys, [*argv, "--resume", "--overwrite"])
    assert before == {name: (out / name).read_bytes() for name in before}

    (out / "step-0000009").mkdir()  # a stray later checkpoint must not survive a fresh start either
    main([*argv, "--overwrite", "--max_steps", "1", "--save_every", "1"])
    assert sorted(os.listdir(out)) == ["args.json", "final", "log.csv", "loss.png", "notes.txt", "step-0000001"]
    assert [row[0] for row in log_rows(out)] == ["1"]


@pytest.mark.parametrize("damage", ["truncate state/optimizer.bin", "truncate state/model.safetensors",
                                    "truncate state/random_states_0.pkl", "flip model/model.safetensors",
                                    "delete manifest.json"])
def test_resume_skips_a_damaged_checkpoint_with_a_warning_and_stays_exact(tmp_path, capsys, finished, data, damage):
    """Killed after step 4 (step 6 and final/ never written), step 4 then damaged: the run resumes from step 2 and
    ends with the uninterrupted run's weights and log."""
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    shutil.rmtree(out / "step-0000006")
    shutil.rmtree(out / "final")
    action, name = damage.split()
    path = out / "step-0000004" / name
    if action == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    elif action == "flip":  # same size: only the hash can tell
        content = bytearray(path.read_bytes())
        content[-100] ^= 1
        path.write_bytes(bytes(content))
    else:
        path.unlink()
    main([*RUN, "--data", data, "--out", out, "--resume"])
    captured = capsys.readouterr()
    assert f"warning: skipping {out / 'step-0000004'}: " in captured.err
    assert f"resumed from {out / 'step-0000002'} at step 2" in captured.out
    assert train.checkpoint_problem(out / "step-0000004") is None  # saved again, complete
    final = load_file(out / "final" / "model.safetensors")
    expected = load_file(finished / "final" / "model.safetensors")
    assert final.keys() == expected.keys() and all(torch.equal(final[k], expected[k]) for k in expected)
    assert [(r[0], r[1], r[3]) for r in log_rows(out)] == [(r[0], r[1], r[3]) for r in log_rows(finished)]


def test_no_complete_checkpoint_or_a_mismatched_one_is_a_clear_error(tmp_path, capsys, finished, data):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = {name: (out / name).read_bytes() for name in ("log.csv", "final/model.safetensors")}
    for step in (2, 4, 6):
        os.truncate(out / f"step-000000{step}" / "state" / "optimizer.bin", 100)
    with pytest.raises(SystemExit) as exit_info:
        main([*RUN, "--data", data, "--out", out, "--resume"])
    assert "has no complete checkpoint" in str(exit_info.value) and "--overwrite" in str(exit_info.value)
    assert capsys.readouterr().err.count("optimizer.bin has 100 bytes, its manifest says") == 3
    assert before == {name: (out / name).read_bytes() for name in before}

    shutil.rmtree(out)
    shutil.copytree(finished, out)
    with pytest.raises(SystemExit) as exit_info:  # other model options: no traceback either
        main([*RUN, "--data", data, "--out", out, "--resume", "--d_model", "64"])
    assert f"cannot load {out / 'step-0000006'}" in str(exit_info.value)
    # a checkpoint of 2 processes resumed by 1 would leave process 1's random state unused: refused
    state = out / "step-0000006" / "state"
    shutil.copy(state / "random_states_0.pkl", state / "random_states_1.pkl")
    train.write_manifest(out / "step-0000006", 6)
    with pytest.raises(SystemExit) as exit_info:
        main([*RUN, "--data", data, "--out", out, "--resume"])
    assert "was written by 2 processes, this run has 1" in str(exit_info.value)


def test_lora_checkpoints_are_verified_too(tmp_path, capsys, checkpoint):
    sft = tmp_path / "sft.jsonl"
    sft.write_text("\n".join(sft_lines(40)) + "\n")
    argv = ["--stage", "sft", "--data", sft, "--init", checkpoint, "--lora_r", "4", "--seq_len", "32", "--batch_size",
            "4", "--eval_batches", "1", "--threads", "1", "--max_steps", "4", "--save_every", "2", "--keep_checkpoints",
            "0"]
    main([*argv, "--out", tmp_path / "straight"])
    out = tmp_path / "run"
    shutil.copytree(tmp_path / "straight", out)
    shutil.rmtree(out / "final")
    os.truncate(out / "step-0000004" / "state" / "model.safetensors", 1000)  # the adapter's tensors
    main([*argv, "--out", out, "--resume"])
    captured = capsys.readouterr()
    assert f"warning: skipping {out / 'step-0000004'}: state/model.safetensors has 1000 bytes" in captured.err
    assert f"resumed from {out / 'step-0000002'}" in captured.out
    final = load_file(out / "final" / "adapter_model.safetensors")
    expected = load_file(tmp_path / "straight" / "final" / "adapter_model.safetensors")
    assert final.keys() == expected.keys() and all(torch.equal(final[k], expected[k]) for k in expected)


def test_log_seconds_and_tokens_continue_over_a_resume(tmp_path, monkeypatch, finished, data):
    out = tmp_path / "run"
    clock = itertools.count()
    monkeypatch.setattr(train, "time", types.SimpleNamespace(time=lambda: 100.0 * next(clock)))
    main([*RUN, "--data", data, "--out", out])  # 100 s between any two readings of the clock
    monkeypatch.undo()
    for name in ("step-0000004", "step-0000006", "final"):
        shutil.rmtree(out / name)
    main([*RUN, "--data", data, "--out", out, "--resume"])
    rows = log_rows(out)
    seconds = [float(row[4]) for row in rows]
    assert seconds[1] >= 100 and seconds == sorted(seconds), seconds
    assert [(r[0], r[1], r[3]) for r in rows] == [(r[0], r[1], r[3]) for r in log_rows(finished)]


def test_negative_keep_checkpoints_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--stage", "pretrain", "--data", "x", "--out", "y", "--tokenizer", "t", "--max_steps", "1",
                    "--keep_checkpoints", "-1"])
    assert exit_info.value.code == 2
    assert "--keep_checkpoints must be positive, or 0 to keep all" in capsys.readouterr().err


def test_bytes_that_are_not_text_are_bad_data(tmp_path, capsys):
    path = tmp_path / "latin1.jsonl"
    lines = [line.encode() for line in text_lines(40)]
    lines[2] = '{"text": "café"}'.encode("latin-1")
    lines[6] = b'{"text": "half a surrogate pair: \\udc80"}'
    path.write_bytes(b"\n".join(lines) + b"\n")
    argv = ["--stage", "pretrain", "--data", path, "--max_steps", "1", *TINY]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--out", tmp_path / "a"])
    assert f"{path}:3: not UTF-8 text (byte 0xe9 at column 14)" in str(exit_info.value)
    main([*argv, "--out", tmp_path / "b", "--on_bad_data", "skip"])
    err = capsys.readouterr().err
    assert f"skipping {path}:3: not UTF-8" in err and f"skipping {path}:7: " in err and "skipped 2 bad lines" in err
