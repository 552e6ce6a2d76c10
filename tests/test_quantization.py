"""Loading options of the one loader (load_model_and_tokenizer): weight quantisation with bitsandbytes (int8 =
LLM.int8(), int4 = NF4) on the bundled model, and accelerate's device_map split of a random tiny checkpoint over
the CPU and disk offload (the dispatch hooks of a multi-GPU split, runnable without a GPU); then the same options
through every script's flags, the lm-eval model_args and train.py."""

import os
import sys

import pytest
import torch

from modeling_llada import (DEFAULT_MODEL, QUANTIZATIONS, load_model_and_tokenizer, loading_options,
                            parse_max_memory)
from generate import generate
from tiny_models import ROOT

pytest.importorskip("bitsandbytes")
LAYER_CLASS = {"int8": "Linear8bitLt", "int4": "Linear4bit"}
# Budget that puts the tiny checkpoint's embedding and first block on the CPU and the rest on disk: accelerate
# keeps room for the largest layer (the 256 KB head) beside what it places.
SPLIT = dict(device_map="auto", max_memory="cpu:600KB")


def chat_batch(tokenizer, questions):
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                           tokenize=False) for q in questions]
    tokenizer.padding_side = "left"
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def answers(model, tokenizer, questions, **options):
    prompt, mask = chat_batch(tokenizer, questions)
    out = generate(model, prompt, attention_mask=mask, steps=32, gen_length=32, block_length=16,
                   mask_id=model.config.mask_token_id, **options)
    return out, tokenizer.batch_decode(out[:, prompt.shape[1]:], skip_special_tokens=True)


@pytest.fixture(scope="module")
def float32_model():
    return load_model_and_tokenizer(device="cpu")


# ------------------------------------------------------------------------------------------ quantisation

@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_quantised_bundled_model_is_smaller_and_answers_like_float32(quantization, float32_model):
    reference, tokenizer = float32_model
    model, _ = load_model_and_tokenizer(device="cpu", quantization=quantization)
    blocks = model.model.transformer.blocks
    assert all(type(getattr(block, name)).__name__ == LAYER_CLASS[quantization] for block in blocks
               for name in ("q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out"))
    assert type(model.model.transformer.ff_out) is torch.nn.Linear  # the output head stays float32
    assert model.device.type == "cpu" and not model.training
    # 13.8 MB in float32; the blocks' 2.65M weights at 1 byte (int8) or about half a byte (int4)
    assert model.get_memory_footprint() < {"int8": 0.45, "int4": 0.35}[quantization] * \
        reference.get_memory_footprint()

    prompt, mask = chat_batch(tokenizer, ["What is 23 + 45?", "Compute 63 - 29."])
    canvas = torch.cat([prompt, torch.full((2, 32), model.config.mask_token_id)], dim=1)
    full_mask = torch.cat([mask, torch.ones(2, 32, dtype=mask.dtype)], dim=1)
    with torch.no_grad():
        expected = reference(canvas, attention_mask=full_mask).logits[:, prompt.shape[1]:].argmax(-1)
        got = model(canvas, attention_mask=full_mask).logits[:, prompt.shape[1]:].argmax(-1)
    assert (got == expected).float().mean() >= 0.9  # first-step predictions of the answer
    _, text = answers(model, tokenizer, ["What is 23 + 45?"])
    assert "23 + 45 = 68" in text[0], text


def test_adapter_merges_into_quantised_weights(float32_model, tmp_path):
    """A LoRA adapter is merged into the int8 weights (PEFT dequantises, adds, requantises)."""
    from peft import LoraConfig, get_peft_model

    from modeling_llada import LLaDAModelLM
    torch.manual_seed(0)
    base = LLaDAModelLM.from_pretrained(DEFAULT_MODEL)
    base.name_or_path = DEFAULT_MODEL
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(str(tmp_path))
    merged, _ = load_model_and_tokenizer(adapter=str(tmp_path), device="cpu")
    quantised, _ = load_model_and_tokenizer(adapter=str(tmp_path), device="cpu", quantization="int8")
    assert type(quantised.model.transformer.blocks[0].q_proj).__name__ == "Linear8bitLt"
    ids = torch.randint(3, 2000, (2, 24))
    with torch.no_grad():
        exact, approx = merged(ids).logits, quantised(ids).logits
        plain = float32_model[0](ids).logits
    assert (approx - exact).abs().max() < 0.25 * (plain - exact).abs().max()  # the adapter's change is there


@pytest.mark.parametrize("options, message", [
    (dict(quantization="int3"), "quantization must be one of int8, int4 or none"),
    (dict(quantization="int8", device="mps"), "runs on a CUDA GPU or the CPU"),
    (dict(device_map="everywhere"), "device_map must be one of auto"),
    (dict(device_map="auto", device="cpu"), "give device or device_map, not both"),
    (dict(device_map="auto", adapter="runs/x"), "merge it first"),
    (dict(max_memory="cpu:1GB"), "only apply with a device_map"),
    (dict(offload_folder="x"), "only apply with a device_map"),
    (dict(device_map="auto", max_memory="cpu"), "is not DEVICE:SIZE"),
])
def test_bad_loading_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        load_model_and_tokenizer(**options)


def test_quantization_without_bitsandbytes_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import bitsandbytes now raises ImportError
    with pytest.raises(ValueError, match=r"needs bitsandbytes \(pip install bitsandbytes\)"):
        load_model_and_tokenizer(device="cpu", quantization="int4")


def test_max_memory_string_forms():
    assert parse_max_memory("0:20GiB,1:20GiB,cpu:64GiB") == {0: "20GiB", 1: "20GiB", "cpu": "64GiB"}
    assert parse_max_memory("0=20GiB;cpu=1GB") == {0: "20GiB", "cpu": "1GB"}  # the lm-eval model_args form
    assert parse_max_memory({0: 10}) == {0: 10} and parse_max_memory(None) is None


# ------------------------------------------------------------------------------------------ device_map

@pytest.fixture(scope="module")
def split_model(varied_checkpoint, tmp_path_factory):
    return load_model_and_tokenizer(varied_checkpoint, offload_folder=str(tmp_path_factory.mktemp("offload")), **SPLIT)


def test_device_map_splits_blocks_and_gives_the_unsplit_outputs(varied_checkpoint, split_model):
    """The blocks spread over two places (CPU and disk offload): accelerate's hooks load each offloaded block's
    weights for its forward and move the inputs; logits and sampled answers (with and without the KV cache) are
    those of the model on one device."""
    model, tokenizer = split_model
    reference, _ = load_model_and_tokenizer(varied_checkpoint, device="cpu")
    placement = model.hf_device_map
    assert placement["model.transformer.wte"] == "cpu" and placement["model.transformer.blocks.0"] == "cpu"
    assert placement["model.transformer.blocks.1"] == "disk" and placement["model.transformer.ff_out"] == "disk"
    assert model.model.transformer.blocks[1].q_proj.weight.device.type == "meta"  # really offloaded
    assert model.device.type == "cpu"  # where inputs go: the embedding's device
    prompt, mask = chat_batch(tokenizer, ["What is 2 + 3?", "Hi"])
    with torch.no_grad():
        torch.testing.assert_close(model(prompt, attention_mask=mask).logits,
                                   reference(prompt, attention_mask=mask).logits, rtol=0, atol=0)
    for options in ({}, dict(cache="dual"), dict(cache="prefix", threshold=0.9)):
        split_out, _ = answers(model, tokenizer, ["What is 2 + 3?", "Hi"], **options)
        reference_out, _ = answers(reference, tokenizer, ["What is 2 + 3?", "Hi"], **options)
        assert torch.equal(split_out, reference_out), options
        assert len(set(split_out[0, prompt.shape[1]:].tolist())) > 5  # the answers vary: the test means something


def test_device_map_that_offloads_the_embedding_is_refused(varied_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="offloads the embedding"):
        load_model_and_tokenizer(varied_checkpoint, device_map="auto", max_memory="cpu:100KB",
                                 offload_folder=str(tmp_path))


def test_quantised_weights_cannot_be_offloaded(tmp_path):
    with pytest.raises(ValueError, match="bitsandbytes cannot run"):
        load_model_and_tokenizer(quantization="int8", device_map="auto", max_memory="cpu:4MB",
                                 offload_folder=str(tmp_path))


# ------------------------------------------------------------------------------------------ the programs

def run_main(monkeypatch, capsys, module, argv):
    """module.main in this process; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", [module.__name__ + ".py"] + argv)
    try:
        code = module.main(argv) if module.__name__ in ("chat", "eval_reverse") else module.main()
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_script_takes_the_loading_flags_and_refuses_bad_ones_in_one_line(monkeypatch, capsys):
    import app
    import chat
    import eval_reverse
    import generate as generate_script
    import get_log_likelihood

    for module in (generate_script, chat, eval_reverse, get_log_likelihood):
        code, _, err = run_main(monkeypatch, capsys, module, ["--quantization", "int3"])
        assert code == 2 and "invalid choice: 'int3'" in err, (module, err)
        code, _, err = run_main(monkeypatch, capsys, module, ["--max_memory", "cpu:1GB"])
        assert code == 2 and "error: cannot load" in err and "only apply with a device_map" in err, err
        assert err.strip().splitlines()[-1].startswith(f"{module.__name__}.py: error:"), err  # one line
    _, args = app.parse_args(["--quantization", "int4", "--device_map", "auto", "--max_memory", "0:20GiB"])
    assert loading_options(args) == dict(quantization="int4", device_map="auto", max_memory="0:20GiB",
                                         offload_folder=None)


def test_scripts_run_quantised_and_split(monkeypatch, capsys, varied_checkpoint, split_model, tmp_path):
    import chat
    import eval_reverse
    import generate as generate_script
    import get_log_likelihood

    short = ["--gen_length", "32", "--steps", "32", "--block_length", "16"]
    code, out, err = run_main(monkeypatch, capsys, generate_script, ["--quantization", "int8"] + short +
                              ["What is 23 + 45?"])
    assert code in (0, None) and "A: 3 + 5 = 8." in out, err
    code, out, err = run_main(monkeypatch, capsys, get_log_likelihood, ["--quantization", "int4", "--mc_num", "4",
                                                                       "--batch_size", "4"])
    assert code in (0, None) and out.count("\n") == 4, err
    lines = iter(["What is 23 + 45?"])
    monkeypatch.setattr("builtins.input", lambda prompt="": _read(lines))
    code, out, err = run_main(monkeypatch, capsys, chat, ["--quantization", "int4", "--no_stream"] + short)
    assert code == 0 and "= 68" in out, err
    _, out, err = run_main(monkeypatch, capsys, eval_reverse, [
        "--quantization", "int8", "--limit", "2", "--gen_length", "16", "--output", str(tmp_path / "r.jsonl")])
    assert "accuracy:" in out, err
    # a split model from the command line answers as generate() on the split model does
    options = ["--model", varied_checkpoint, "--device_map", "auto", "--max_memory", "cpu:600KB", "--offload_folder",
               str(tmp_path / "offload")]
    code, out, err = run_main(monkeypatch, capsys, generate_script, options + short + ["--cache", "dual", "Hi"])
    model, tokenizer = split_model
    prompt, mask = chat_batch(tokenizer, ["Hi"])
    expected = generate(model, prompt, attention_mask=mask, steps=32, gen_length=32, block_length=16,
                        mask_id=model.config.mask_token_id, cache="dual", eos_id=tokenizer.eos_token_id,
                        eot_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"))
    expected_text = tokenizer.decode(expected[0, prompt.shape[1]:], skip_special_tokens=True).strip()
    assert code in (0, None) and f"A: {expected_text}\n" in out, err


def _read(lines):
    for line in lines:
        return line
    raise EOFError  # Ctrl-D ends the chat


def test_lm_eval_model_args_reach_the_loader(monkeypatch, varied_checkpoint, tmp_path):
    """model_args strings as lm-eval parses them (create_from_arg_string): a split harness answers as the whole
    model does, a quantised one holds bitsandbytes layers, and device_map refuses several processes."""
    pytest.importorskip("lm_eval")
    from eval_helpers import Request
    from eval_llada import LLaDAEvalHarness
    settings = f"model_path={varied_checkpoint},batch_size=2,gen_length=16,steps=16,block_length=16"
    split = LLaDAEvalHarness.create_from_arg_string(
        f"{settings},device_map=auto,max_memory=cpu:600KB;,offload_folder={tmp_path}",
        {"device": "cuda"})  # lm-eval's --device default: set aside for the device_map
    assert set(split.model.hf_device_map.values()) == {"cpu", "disk"}
    whole = LLaDAEvalHarness.create_from_arg_string(f"{settings},device=cpu")
    requests = [Request("What is 2 + 3?", {"until": []}), Request("Hi", {"until": []})]
    assert split.generate_until(requests) == whole.generate_until(requests)
    quantised = LLaDAEvalHarness.create_from_arg_string(
        "quantization=int4,device=cpu,batch_size=1,gen_length=16,steps=16,block_length=16")  # the bundled model
    assert type(quantised.model.model.transformer.blocks[0].q_proj).__name__ == "Linear4bit"
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="without accelerate launch"):
        LLaDAEvalHarness.create_from_arg_string(f"{settings},device_map=auto")


def test_train_quantised_base_needs_lora(capsys, tmp_path):
    """train.py --quantization holds the frozen base quantised under a LoRA adapter (int4 is --qlora); quantised
    weights alone cannot be trained."""
    from train import main, parse_args
    common = ["--stage", "sft", "--data", "d", "--init", "m", "--out", str(tmp_path / "o"), "--max_steps", "1"]
    for flags, message in ((["--quantization", "int8"], "quantised weights cannot be trained"),
                           (["--quantization", "int8", "--lora_r", "4", "--qlora"], "--qlora is --quantization int4")):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(common + flags)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert parse_args(common + ["--lora_r", "4", "--qlora"]).quantization == "int4"
    out = tmp_path / "lora8"
    main(["--stage", "sft", "--data", os.path.join(ROOT, "tests", "data", "dialogues.jsonl"), "--init", DEFAULT_MODEL,
          "--out", out, "--lora_r", "4", "--quantization", "int8", "--seq_len", "160", "--batch_size", "4",
          "--max_steps", "1", "--save_every", "1", "--eval_every", "1", "--eval_batches", "1", "--threads", "1"])
    assert (out / "final" / "adapter_model.safetensors").exists()
    merged, _ = load_model_and_tokenizer(adapter=str(out / "final"), device="cpu")
    assert type(merged.model.transformer.blocks[0].q_proj) is torch.nn.Linear  # merged into the float32 base
