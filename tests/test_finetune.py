"""Fine-tuning within one device's memory: gradient checkpointing, LoRA / QLoRA adapters (train, load, merge),
and multi-turn SFT data (paper App. B.1)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from tiny_models import ROOT, tiny_model
from modeling_llada import DEFAULT_MODEL, LLaDAModelLM, load_model_and_tokenizer
from train import HEAD, diffusion_loss, lora_target_modules, main, make_batch, parse_args, select_turns, sft_dialogue

DIALOGUES = os.path.join(ROOT, "tests", "data", "dialogues.jsonl")
TOKENIZER = os.path.join(ROOT, "data", "tokenizer")


def run_script(script, *args, stdin=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, args)], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------------ gradient checkpointing

def test_gradient_checkpointing_recomputes_each_block_and_gives_the_same_gradients():
    model = tiny_model(weights="init", n_layers=3).train()
    input_ids = torch.randint(0, 60, (2, 24))
    prompt_lengths = torch.tensor([5, 9])
    calls = []
    for block in model.model.transformer.blocks:
        attention = block.attention
        block.attention = lambda *a, _attention=attention, **k: calls.append(1) or _attention(*a, **k)

    def gradients():
        model.zero_grad()
        calls.clear()
        torch.manual_seed(1)
        diffusion_loss(model, input_ids, prompt_lengths, mask_id=60).backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}, len(calls)

    plain, plain_calls = gradients()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    checkpointed, checkpointed_calls = gradients()
    assert (plain_calls, checkpointed_calls) == (3, 6)  # each block's forward runs again in the backward pass
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-6, atol=1e-7, msg=name)
    model.eval()  # no recomputation without a backward pass
    with torch.no_grad():
        calls.clear()
        model(input_ids)
    assert len(calls) == 3


# ------------------------------------------------------------------------------------------ LoRA

def test_lora_targets_the_blocks_layers_and_the_head_only_when_asked():
    from peft import LoraConfig, get_peft_model

    def adapted(targets):
        config = LoraConfig(r=2, target_modules=lora_target_modules(targets))
        peft_model = get_peft_model(tiny_model(weights="init"), config)
        return {name.rsplit(".lora_A", 1)[0] for name, _ in peft_model.named_parameters() if ".lora_A." in name}

    default = adapted(parse_args(["--stage", "sft", "--data", "x", "--out", "y", "--init", "z", "--max_steps", "1",
                                  "--lora_r", "4"]).lora_targets)
    layers = ("q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out")
    assert default == {f"base_model.model.model.transformer.blocks.{i}.{layer}" for i in range(2) for layer in layers}
    assert adapted(["q_proj", HEAD]) == {"base_model.model.model.transformer.blocks.0.q_proj",
                                         "base_model.model.model.transformer.blocks.1.q_proj",
                                         "base_model.model.model.transformer.ff_out"}


@pytest.mark.parametrize("flags, message", [
    (["--lora_r", "4"], "--lora_r adapts a trained model: pass --init"),
    (["--init", "m", "--lora_r", "4", "--lora_targets", "q_proj,wte"], "--lora_targets: unknown layer wte"),
    (["--init", "m", "--qlora"], "--qlora trains a LoRA adapter: pass --lora_r too"),
])
def test_bad_lora_flags_are_one_line_usage_errors(capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--stage", "sft", "--data", "x", "--out", "y", "--max_steps", "1", "--tokenizer", "t", *flags])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, checkpoint):
    """A LoRA + gradient checkpointing SFT run on the multi-turn dialogues, from the random tiny checkpoint."""
    out = tmp_path_factory.mktemp("lora") / "run"
    main(["--stage", "sft", "--data", DIALOGUES, "--init", checkpoint, "--out", out, "--lora_r", "4", "--lora_dropout",
          "0", "--gradient_checkpointing", "--seq_len", "160", "--batch_size", "4", "--max_steps", "3", "--save_every",
          "3", "--eval_every", "3", "--eval_batches", "1", "--lr", "5e-2", "--warmup_steps", "1", "--threads", "1"])
    return out


def test_lora_run_saves_adapter_and_tokenizer_that_every_loader_merges(lora_run, checkpoint, tmp_path):
    from peft import PeftModel

    final = lora_run / "final"
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(os.listdir(final))
    assert json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"] == checkpoint
    state = lora_run / "step-0000003" / "state" / "model.safetensors"  # adapter tensors only, not the base
    assert state.stat().st_size < os.path.getsize(os.path.join(checkpoint, "model.safetensors")) / 4

    base, _ = load_model_and_tokenizer(checkpoint, device="cpu")
    unmerged = PeftModel.from_pretrained(base, final).eval()
    merged, tokenizer = load_model_and_tokenizer(adapter=str(final), device="cpu")  # base from the adapter config
    assert type(merged) is LLaDAModelLM and tokenizer.mask_token_id == merged.config.mask_token_id
    input_ids = torch.randint(0, 60, (2, 20))
    with torch.no_grad():
        expected = unmerged(input_ids).logits
        torch.testing.assert_close(merged(input_ids).logits, expected, rtol=1e-4, atol=1e-4)
        plain = LLaDAModelLM.from_pretrained(checkpoint)(input_ids).logits
    assert not torch.allclose(plain, expected, atol=1e-3)  # the adapter changed something

    main(["merge", "--adapter", final, "--out", tmp_path / "merged"])
    reloaded, _ = load_model_and_tokenizer(str(tmp_path / "merged"), device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids).logits, expected, rtol=1e-4, atol=1e-4)
    chat = run_script("chat.py", "--model", tmp_path / "merged", "--no_stream", "--gen_length", "16", "--steps", "16",
                      "--block_length", "16", stdin="hi\n")
    assert chat.returncode == 0 and "LLaDA:" in chat.stdout, chat.stderr


def test_every_script_takes_adapter_and_reports_a_bad_one_in_one_line(lora_run, tmp_path, capsys, monkeypatch):
    import app
    import chat
    import eval_reverse
    import generate

    monkeypatch.setattr(sys, "argv", ["generate.py", "--adapter", str(tmp_path / "none")])
    for run in (lambda argv: chat.main(argv), lambda argv: app.main(argv), lambda argv: eval_reverse.main(argv),
                lambda argv: generate.main()):
        with pytest.raises(SystemExit) as exit_info:
            run(["--adapter", str(tmp_path / "none")])
        assert exit_info.value.code == 2 and "cannot load the adapter" in capsys.readouterr().err
    lines = iter(["hi"])

    def typed(prompt):
        for line in lines:
            return line
        raise EOFError  # Ctrl-D ends the chat

    monkeypatch.setattr("builtins.input", typed)
    assert chat.main(["--adapter", str(lora_run / "final"), "--no_stream", "--gen_length", "16", "--steps", "16",
                      "--block_length", "16"]) == 0
    assert "adapter" in capsys.readouterr().out


def test_qlora_trains_a_4bit_base_on_the_cpu(tmp_path):
    """On the bundled model: bitsandbytes' CPU kernels need layers at least 64 wide, the random tiny one has 32."""
    pytest.importorskip("bitsandbytes")
    out = tmp_path / "qlora"
    main(["--stage", "sft", "--data", DIALOGUES, "--init", DEFAULT_MODEL, "--out", out, "--lora_r", "4", "--qlora",
          "--gradient_checkpointing", "--seq_len", "160", "--batch_size", "4", "--max_steps", "2", "--save_every", "2",
          "--eval_every", "2", "--eval_batches", "1", "--threads", "1"])
    assert (out / "final" / "adapter_model.safetensors").exists()
    merged, _ = load_model_and_tokenizer(adapter=str(out / "final"), device="cpu")
    assert type(merged.model.transformer.blocks[0].q_proj) is torch.nn.Linear


# ------------------------------------------------------------------------------------------ multi-turn SFT

def read_dialogues():
    with open(DIALOGUES) as handle:
        return [json.loads(line)["messages"] for line in handle]


def test_each_assistant_turn_is_a_pair_with_the_history_as_prompt(tokenizer):
    for messages in read_dialogues()[:4]:
        pairs = sft_dialogue({"messages": messages}, tokenizer, seq_len=640)
        turns = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
        assert len(pairs) == len(turns) >= 2
        for (prompt, answer), k in zip(pairs, turns):
            history = tokenizer.apply_chat_template(messages[:k], add_generation_prompt=True, tokenize=False)
            assert tokenizer.decode(prompt) == history  # what chat.py sends the model for this turn
            assert tokenizer.decode(answer) == messages[k]["content"] + "<|eot_id|>"


def test_sampled_turn_is_all_that_is_masked_and_scored(tokenizer):
    """A batch of one multi-turn dialogue: whatever turn is drawn, its answer and the EOS padding after it are
    the only positions ever masked, every one of them is (over many draws), and the prompt is the history."""
    messages = read_dialogues()[0]
    dialogues = [sft_dialogue({"messages": messages}, tokenizer, seq_len=640)]
    longest = max(len(p) + len(a) for p, a in dialogues[0])
    args = parse_args(["--stage", "sft", "--data", "x", "--out", "y", "--tokenizer", "t", "--max_steps", "1",
                       "--seq_len", "640", "--pad_to_multiple_of", str(longest + 7)])
    eos, eot = tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")
    seen_turns = set()
    for draw in torch.linspace(0, 0.99, 12):
        input_ids, prompt_lengths = make_batch(dialogues, torch.tensor([0]), "sft", args, eos, "cpu", None,
                                               turns=torch.tensor([draw]))
        turn = int(draw * len(dialogues[0]))
        seen_turns.add(turn)
        prompt, answer = dialogues[0][turn]
        row = input_ids[0].tolist()
        assert prompt_lengths.tolist() == [len(prompt)] and row[:len(prompt)] == prompt
        assert row[len(prompt):len(prompt) + len(answer)] == answer and answer[-1] == eot
        assert set(row[len(prompt) + len(answer):]) == {eos} and len(row) == longest + 7

        masked_ever = torch.zeros(len(row), dtype=torch.bool)

        class Recorder(torch.nn.Module):
            def forward(self, x):
                masked_ever.logical_or_(x[0] == tokenizer.mask_token_id)
                return type("Out", (), {"logits": torch.zeros(*x.shape, len(tokenizer))})()

        torch.manual_seed(0)
        for _ in range(40):
            diffusion_loss(Recorder(), input_ids, prompt_lengths, tokenizer.mask_token_id)
        assert masked_ever.tolist() == [i >= len(prompt) for i in range(len(row))]
    assert seen_turns == set(range(len(dialogues[0])))


def test_multiturn_modes_and_single_turn_data_is_unchanged(tokenizer):
    dialogues = [sft_dialogue({"messages": m}, tokenizer, seq_len=640) for m in read_dialogues()]
    n_pairs = sum(len(d) for d in dialogues)
    assert n_pairs == 100
    assert select_turns(dialogues, "sample") == dialogues
    assert [d[0] for d in select_turns(dialogues, "expand")] == [pair for d in dialogues for pair in d]
    assert select_turns(dialogues, "last") == [d[-1:] for d in dialogues]
    single = [[pair] for pair in (d[-1] for d in dialogues)]  # single-turn data: every mode, every draw the same
    args = parse_args(["--stage", "sft", "--data", "x", "--out", "y", "--tokenizer", "t", "--max_steps", "1"])
    indices = torch.arange(8)
    reference = make_batch(single, indices, "sft", args, 1, "cpu", None)
    for mode in ("sample", "expand", "last"):
        batch = make_batch(select_turns(single, mode), indices, "sft", args, 1, "cpu", None, turns=torch.rand(8))
        assert all(torch.equal(a, b) for a, b in zip(batch, reference))

