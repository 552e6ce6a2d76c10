import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from tiny_models import EOS_ID, tiny_config, tiny_model
from modeling_llada import LLaDAConfig, LLaDAModelLM

OFFICIAL_8B_CONFIG = dict(
    model_type="llada", architectures=["LLaDAModelLM"], d_model=4096, n_heads=32, n_kv_heads=32, n_layers=32,
    mlp_hidden_size=12288, mlp_ratio=4, vocab_size=126464, embedding_size=126464, max_sequence_length=4096,
    rope=True, rope_theta=500000.0, rope_full_precision=True, activation_type="silu", block_type="llama",
    layer_norm_type="rms", rms_norm_eps=1e-5, layer_norm_with_affine=True, bias_for_layer_norm=False,
    include_bias=False, include_qkv_bias=False, weight_tying=False, attention_layer_norm=False, alibi=False,
    alibi_bias_max=8.0, scale_logits=False, input_emb_norm=False, block_group_size=1, attention_dropout=0.0,
    embedding_dropout=0.0, residual_dropout=0.0, init_device="meta", init_fn="mitchell", init_std=0.02,
    flash_attention=False, multi_query_attention=None, clip_qkv=None, precision="amp_bf16",
    mask_token_id=126336, eos_token_id=126081, pad_token_id=126081, use_cache=False,
    auto_map={"AutoConfig": "configuration_llada.LLaDAConfig", "AutoModel": "modeling_llada.LLaDAModelLM",
              "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM"},
)


def official_names(n_layers, weight_tying=False):
    names = {"model.transformer.wte.weight", "model.transformer.ln_f.weight"}
    if not weight_tying:
        names.add("model.transformer.ff_out.weight")
    for i in range(n_layers):
        for part in ("q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out", "attn_norm",
                     "ff_norm"):
            names.add(f"model.transformer.blocks.{i}.{part}.weight")
    return names


def test_8b_config_builds_official_names_and_shapes_on_meta():
    config = LLaDAConfig(**{k: v for k, v in OFFICIAL_8B_CONFIG.items() if k != "model_type"})
    with torch.device("meta"):
        model = LLaDAModelLM(config)
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    assert set(shapes) == official_names(32)
    assert shapes["model.transformer.wte.weight"] == (126464, 4096)
    assert shapes["model.transformer.blocks.0.ff_proj.weight"] == (12288, 4096)
    assert shapes["model.transformer.blocks.31.ff_out.weight"] == (4096, 12288)
    assert shapes["model.transformer.ff_out.weight"] == (126464, 4096)
    assert all(p.is_meta for p in model.parameters())
    assert abs(sum(p.numel() for p in model.parameters()) / 1e9 - 8.02) < 0.01


def test_official_style_checkpoint_loads_without_missing_keys(tmp_path):
    """A directory laid out like the hub checkpoint (its config.json fields, its tensor names, auto_map,
    no Python files) loads through AutoModel with every tensor taken from the file."""
    fields = dict(OFFICIAL_8B_CONFIG, d_model=32, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=48,
                  vocab_size=64, embedding_size=64, mask_token_id=60, eos_token_id=61, pad_token_id=61)
    (tmp_path / "config.json").write_text(json.dumps(fields))
    torch.manual_seed(0)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in LLaDAModelLM(LLaDAConfig(**fields)).state_dict().items()}
    tensors = {name: torch.randn(shape) for name, shape in shapes.items()}
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    model, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(model, LLaDAModelLM)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, tensors[name])


@pytest.mark.parametrize("overrides", [dict(), dict(n_kv_heads=2, weight_tying=True), dict(causal=True)])
def test_save_and_load_through_auto_classes(tmp_path, overrides):
    model = tiny_model(weights="init", **overrides)
    x = torch.randint(0, 60, (2, 9))
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "llada" and config["auto_map"]["AutoModel"] == "modeling_llada.LLaDAModelLM"
    assert isinstance(AutoConfig.from_pretrained(tmp_path), LLaDAConfig)
    for auto_class in (AutoModel, AutoModelForCausalLM):
        loaded = auto_class.from_pretrained(tmp_path).eval()
        assert torch.equal(loaded(x).logits, model(x).logits)
    names = set(model.state_dict())
    assert names == official_names(2, overrides.get("weight_tying", False))


def test_left_padding_does_not_change_logits(tiny_model):
    x = torch.randint(0, 60, (1, 10))
    padded = torch.cat([torch.full((1, 4), EOS_ID), x], dim=1)
    mask = torch.cat([torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 10, dtype=torch.long)], dim=1)
    alone = tiny_model(x).logits
    batch_logits = tiny_model(torch.cat([padded, padded]), attention_mask=torch.cat([mask, mask])).logits
    assert torch.allclose(batch_logits[0, 4:], alone[0], atol=1e-4)
    unmasked = tiny_model(padded).logits
    assert not torch.allclose(unmasked[0, 4:], alone[0], atol=1e-2)


def test_attention_is_bidirectional_unless_causal():
    bidirectional, causal = tiny_model(weights="init"), tiny_model(weights="init", causal=True)  # same weights
    x = torch.randint(0, 60, (1, 8))
    changed = x.clone()
    changed[0, -1] = (x[0, -1] + 1) % 60
    assert not torch.allclose(bidirectional(x).logits[0, 0], bidirectional(changed).logits[0, 0])
    assert torch.allclose(causal(x).logits[0, :-1], causal(changed).logits[0, :-1], atol=1e-6)


def test_grouped_query_attention_shapes():
    model = tiny_model(weights="init", n_heads=4, n_kv_heads=1)
    assert model.model.transformer.blocks[0].k_proj.weight.shape == (8, 32)
    assert model(torch.randint(0, 60, (2, 5))).logits.shape == (2, 5, 64)


def test_bfloat16_forward():
    model = tiny_model(weights="init").to(torch.bfloat16)
    logits = model(torch.randint(0, 60, (1, 6)), attention_mask=torch.ones(1, 6, dtype=torch.long)).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


@pytest.mark.parametrize("overrides, message", [
    (dict(n_heads=5), "multiple of n_heads"),
    (dict(n_kv_heads=3), "multiple of n_kv_heads"),
    (dict(alibi=True), "alibi"),
    (dict(block_type="sequential"), "block_type"),
])
def test_unsupported_configs_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(tiny_model):
    x = torch.randint(0, 60, (2, 9))
    cpu = tiny_model(x).logits
    gpu = tiny_model.to("cuda")(x.cuda()).logits.cpu()
    assert torch.allclose(cpu, gpu, atol=1e-3)
