"""The one factory of random tiny LLaDA models for the tests and the device scripts in tools/.

Every random model is LLaDAModelLM(tiny_config(...)) built right after torch.manual_seed(seed), so equal arguments
give equal weights wherever they are asked for:

    tiny_config(**overrides)                    d_model 32, 2 layers, 4 heads, MLP 64, 256 positions; 64 token ids
                                                with MASK_ID / EOS_ID below, or the ids of `tokenizer=`
    tiny_model(seed, weights, tokenizer, ...)   the model in memory, in eval mode
    tiny_checkpoint(path, seed, weights, ...)   the model with the project's tokenizer (data/tokenizer) saved to
                                                `path`, loadable by every program's --model

`weights` picks what is done to the random init:
    "init"    nothing (nearly flat predictions: enough to run a program through);
    "sharp"   every matrix x8, so that argmax and top-k are robust to float noise;
    "varied"  "sharp", plus q and k x3 more, RoPE theta 100 and the lm head's mask-token row zeroed: each position
              attends to different neighbours, so answers hold many distinct tokens (greedy answers of 32 tokens
              hold 9-14; 26-35 in 64 with the project's tokenizer) and the mask token (logit 0) is practically never
              predicted, as in a trained model. For tests that claim token identity: on the plain random model
              (even "sharp") an answer mostly repeats one or two tokens, and comparing two samplers on it catches
              little.
"""
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_DIR = os.path.join(ROOT, "data", "tokenizer")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from modeling_llada import LLaDAConfig, LLaDAModelLM  # noqa: E402

# Special ids of the 64-token vocabulary of the models built without a tokenizer.
MASK_ID, EOS_ID, EOT_ID = 60, 61, 62
WEIGHTS = ("init", "sharp", "varied")


def project_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def tiny_config(tokenizer=None, **overrides):
    fields = dict(d_model=32, n_heads=4, n_layers=2, mlp_hidden_size=64, vocab_size=64, max_sequence_length=256,
                  mask_token_id=MASK_ID, eos_token_id=EOS_ID, pad_token_id=EOS_ID)
    if tokenizer is not None:
        fields.update(vocab_size=len(tokenizer), mask_token_id=tokenizer.mask_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    fields.update(overrides)
    return LLaDAConfig(**fields)


def vary(model):
    """The "varied" recipe applied in place to a random LLaDAModelLM with the "init" weights; returns the model."""
    model.config.rope_theta = 100.0
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 2:
                parameter.mul_(8)
            if "q_proj" in name or "k_proj" in name:
                parameter.mul_(3)
        model.model.transformer.ff_out.weight[model.config.mask_token_id] = 0
    return model


def tiny_model(seed=0, weights="sharp", tokenizer=None, **overrides):
    """A random tiny LLaDAModelLM in eval mode (see the module's docstring); overrides go to tiny_config."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, not {weights!r}")
    torch.manual_seed(seed)
    model = LLaDAModelLM(tiny_config(tokenizer, **overrides)).eval()
    if weights == "varied":
        return vary(model)
    if weights == "sharp":
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.dim() == 2:
                    parameter.mul_(8)
    return model


def tiny_checkpoint(path, seed=0, weights="sharp", **overrides):
    """tiny_model(seed, weights, **overrides) with the project's tokenizer, saved with it into `path`; returns
    path."""
    tokenizer = project_tokenizer()
    tiny_model(seed, weights, tokenizer, **overrides).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
