"""A random tiny LLaDA checkpoint on disk (the project's tokenizer, 2 layers of width 32) for tests of the
programs that load a model by path (chat.py, app.py)."""
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_DIR = os.path.join(ROOT, "data", "tokenizer")


def make_tiny_checkpoint(path, max_sequence_length=512, seed=0, varied=False):
    """Save a random LLaDAModelLM and the project's tokenizer into `path`; returns path.

    varied=True: the recipe of conftest.make_varied_model (sharp attention, RoPE theta 100, the mask token never
    predicted), so that answers hold many distinct tokens and comparing two programs' answers means something."""
    sys.path.insert(0, ROOT)
    from transformers import AutoTokenizer

    from modeling_llada import LLaDAConfig, LLaDAModelLM

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    config = LLaDAConfig(d_model=32, n_heads=4, n_layers=2, mlp_hidden_size=64, vocab_size=len(tokenizer),
                         max_sequence_length=max_sequence_length, mask_token_id=tokenizer.mask_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         **(dict(rope_theta=100.0) if varied else {}))
    torch.manual_seed(seed)
    model = LLaDAModelLM(config).eval()
    with torch.no_grad():  # sharper than the init: confident, varied predictions rather than flat ones
        for name, parameter in model.named_parameters():
            if parameter.dim() == 2:
                parameter.mul_(8)
            if varied and ("q_proj" in name or "k_proj" in name):
                parameter.mul_(3)
        if varied:
            model.model.transformer.ff_out.weight[tokenizer.mask_token_id] = 0
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
