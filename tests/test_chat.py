"""chat.py: the token-id history against the chat template, and the real program driven through a
pseudo-terminal (two turns, an empty line, /reset, /quit, Ctrl-D, Ctrl-C) and through a pipe."""
import os
import re
import subprocess
import sys

import pytest
import torch

from tiny_models import ROOT, tiny_checkpoint

pexpect = pytest.importorskip("pexpect", reason="pexpect drives chat.py through a pseudo-terminal")

from prompting import Conversation, cut_answer, render_canvas, special_ids  # noqa: E402
from generate import generate  # noqa: E402

FLAGS = ["--gen_length", "32", "--steps", "16", "--block_length", "16"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TERM="xterm", COLUMNS="100", LINES="40",
           TRANSFORMERS_OFFLINE="1", HF_HUB_OFFLINE="1")


def template_ids(tokenizer, messages, add_generation_prompt=True):
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_history_is_the_template_rendering(tokenizer):
    eos, eot = tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")
    conversation = Conversation(tokenizer)
    assert conversation.add_user("What is 2 + 3?") == template_ids(tokenizer, [
        {"role": "user", "content": "What is 2 + 3?"}])
    # a non-canonical tokenization of the text, then EoT and junk after it: cut, re-tokenized, closed
    pieces = [tokenizer.convert_tokens_to_ids(c) for c in ["I", "t"]] + tokenizer.encode(" is 5.")
    answer = conversation.add_answer(pieces + [eot, *tokenizer.encode(" junk"), eos], {eos, eot})
    assert answer == "It is 5."
    assert conversation.ids[-1] == eot
    prompt = conversation.add_user("And 4 + 4?")
    messages = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "It is 5."},
                {"role": "user", "content": "And 4 + 4?"}]
    assert prompt == template_ids(tokenizer, messages)
    # an answer that is EOS at once is an empty turn, still closed
    conversation.add_answer([eos] * 4, {eos, eot})
    prompt = conversation.add_user("Hello?")
    assert prompt == template_ids(tokenizer, messages + [{"role": "assistant", "content": ""},
                                                         {"role": "user", "content": "Hello?"}])
    assert cut_answer([7, 8, eos, 9], {eos}) == [7, 8]


def test_oldest_turns_are_dropped_near_max_length(tokenizer):
    eos = tokenizer.eos_token_id
    conversation = Conversation(tokenizer)
    conversation.add_user("first question about something")
    conversation.add_answer(tokenizer.encode("a first answer that is fairly long, really") + [eos], {eos})
    conversation.add_user("second question")
    conversation.max_length = len(conversation.ids) + 16 - 1  # one token too many
    assert conversation.fit(16) == 2  # the first exchange goes
    assert [m["content"] for m in conversation.messages] == ["second question"]
    assert conversation.ids == template_ids(tokenizer, conversation.messages)
    assert len(conversation.ids) + 16 <= conversation.max_length
    conversation.add_answer([eos], {eos})
    conversation.add_user("word " * 80)
    with pytest.raises(ValueError, match="too long"):
        conversation.fit(16)
    assert conversation.messages[-1]["role"] == "assistant"  # the message that did not fit is forgotten


def test_render_canvas_shows_masks_and_stops_at_eos(tokenizer):
    mask, eos = tokenizer.mask_token_id, tokenizer.eos_token_id
    ids = tokenizer.encode("Hi") + [mask, mask] + tokenizer.encode(" there") + [eos, mask]
    assert render_canvas(tokenizer, ids, mask, {eos}) == "Hi░░ there"


def expected_answers(checkpoint, questions):
    """What the chat should answer, turn by turn, with prompts built by apply_chat_template directly."""
    from modeling_llada import load_model_and_tokenizer
    model, tokenizer = load_model_and_tokenizer(checkpoint, device="cpu")
    mask_id, eos_id, eot_id, _ = special_ids(model, tokenizer)
    messages, answers = [], []
    for question in questions:
        if question is None:  # /reset
            messages = []
            continue
        messages.append({"role": "user", "content": question})
        prompt = torch.tensor([template_ids(tokenizer, messages)])
        out = generate(model, prompt, steps=16, gen_length=32, block_length=16, mask_id=mask_id, eos_id=eos_id,
                       eot_id=eot_id)
        answer = tokenizer.decode(cut_answer(out[0, prompt.shape[1]:].tolist(), {eos_id, eot_id}),
                                  skip_special_tokens=True).strip()
        messages.append({"role": "assistant", "content": answer})
        answers.append((answer, len(template_ids(tokenizer, messages, add_generation_prompt=False))))
    return answers


def spawn(checkpoint, *extra):
    return pexpect.spawn(sys.executable, [os.path.join(ROOT, "chat.py"), "--model", checkpoint, *FLAGS, *extra],
                         cwd=ROOT, env=ENV, encoding="utf-8", codec_errors="replace", timeout=60,
                         dimensions=(40, 100))


def final_answer(child):
    """Read one streamed answer: masks first, then the final line and the conversation size."""
    child.expect("░")  # the denoising is shown while it runs
    child.expect(r"LLaDA: ([^\r\n]*)\r\n\((\d+) tokens in the conversation\)")
    text = child.match.group(1)
    return text.split("\x1b[J")[-1].strip(), int(child.match.group(2))


def test_chat_in_a_terminal(varied_checkpoint):
    questions = ["Hello, who are you?", "Tell me more.", None, "A new start."]
    expected = expected_answers(varied_checkpoint, questions)
    child = spawn(varied_checkpoint)
    child.expect("You: ")
    child.sendline("Hello, who are you?")
    first = final_answer(child)
    child.expect("You: ")
    child.sendline("")  # ignored: the prompt comes back without an answer
    child.expect("You: ")
    child.sendline("Tell me more.")
    second = final_answer(child)
    child.expect("You: ")
    child.sendline("/reset")
    child.expect(r"\(conversation cleared\)")
    child.expect("You: ")
    child.sendline("A new start.")
    third = final_answer(child)
    child.expect("You: ")
    child.sendline("/quit")
    child.expect("Bye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # the second turn's prompt was the template rendering of the whole conversation (answers match a
    # sampler fed with apply_chat_template's ids), and /reset started over
    assert [first, second, third] == expected
    assert second[1] > first[1] and third[1] < second[1]


@pytest.mark.parametrize("key", ["ctrl-d", "ctrl-c"])
def test_ctrl_d_and_ctrl_c_exit_cleanly(checkpoint, key):
    child = spawn(checkpoint)
    child.expect("You: ")
    child.sendeof() if key == "ctrl-d" else child.sendintr()
    child.expect("Bye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "Traceback" not in (child.before or "")


def test_no_stream_through_a_pipe_drops_old_turns(tmp_path, tokenizer):
    checkpoint = tiny_checkpoint(str(tmp_path / "short"), max_sequence_length=96)
    result = subprocess.run([sys.executable, "chat.py", "--model", checkpoint, *FLAGS, "--no_stream",
                             "--cache", "prefix", "--threshold", "0.5"], cwd=ROOT,
                            env=ENV, input="first message\nsecond message here\nthird one\n", text=True,
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "░" not in result.stdout and "\x1b" not in result.stdout
    assert result.stdout.count("LLaDA: ") == 3
    assert "oldest messages to fit the model's 96-token context" in result.stdout
    assert "Traceback" not in result.stderr


def run_chat_in_process(checkpoint, monkeypatch, capsys, *flags):
    """chat.main with one typed message, then Ctrl-D; returns (the keyword arguments of each generate() call with the
    torch seed at that moment, stdout). generate() itself runs."""
    import builtins

    import chat
    calls = []

    def recording_generate(model, prompt, **kwargs):
        calls.append(dict(kwargs, torch_seed=torch.initial_seed()))
        return generate(model, prompt, **kwargs)

    typed = iter(["What is 2 + 3?"])

    def fake_input(prompt=""):
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(chat, "generate", recording_generate)
    monkeypatch.setattr(builtins, "input", fake_input)
    assert chat.main(["--model", checkpoint, *flags]) == 0
    return calls, capsys.readouterr().out


def test_sampling_flags_reach_generate(checkpoint, monkeypatch, capsys):
    """Every sampling flag of chat.py arrives in generate() as given; without flags generate() gets the reference
    settings and none of the fast options."""
    calls, out = run_chat_in_process(checkpoint, monkeypatch, capsys, "--gen_length", "32", "--steps", "16",
                                     "--block_length", "16", "--temperature", "0.7", "--cfg_scale", "1.5",
                                     "--remasking", "random", "--logits_eos_inf", "--confidence_eos_eot_inf",
                                     "--cache", "dual", "--threshold", "0.6", "--seed", "123")
    (kwargs,) = calls
    assert {key: kwargs[key] for key in ("gen_length", "steps", "block_length", "temperature", "cfg_scale",
                                         "remasking", "logits_eos_inf", "confidence_eos_eot_inf", "cache",
                                         "threshold", "torch_seed")} == dict(
        gen_length=32, steps=16, block_length=16, temperature=0.7, cfg_scale=1.5, remasking="random",
        logits_eos_inf=True, confidence_eos_eot_inf=True, cache="dual", threshold=0.6, torch_seed=123)
    assert out.count("LLaDA: ") == 1
    calls, _ = run_chat_in_process(checkpoint, monkeypatch, capsys)
    (kwargs,) = calls
    assert (kwargs["gen_length"], kwargs["steps"], kwargs["block_length"]) == (128, 128, 32)
    assert (kwargs["temperature"], kwargs["cfg_scale"], kwargs["remasking"]) == (0., 0., "low_confidence")
    assert not kwargs["logits_eos_inf"] and not kwargs["confidence_eos_eot_inf"]
    assert "cache" not in kwargs and "threshold" not in kwargs


def test_seed_makes_sampled_answers_repeatable(checkpoint, monkeypatch, capsys):
    """--seed with --temperature: the same seed gives the same answer, another seed another one."""
    def answer(seed):
        _, out = run_chat_in_process(checkpoint, monkeypatch, capsys, *FLAGS, "--temperature", "1.0",
                                     "--seed", str(seed))
        return re.findall(r"LLaDA: (.*)", out)

    first = answer(1)
    assert len(first) == 1 and first == answer(1) and first != answer(2)
