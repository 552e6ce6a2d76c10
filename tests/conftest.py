import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from modeling_llada import LLaDAConfig, LLaDAModelLM  # noqa: E402

MASK_ID, EOS_ID, EOT_ID = 60, 61, 62


def tiny_config(**overrides):
    fields = dict(d_model=32, n_heads=4, n_layers=2, mlp_hidden_size=64, vocab_size=64, max_sequence_length=256,
                  mask_token_id=MASK_ID, eos_token_id=EOS_ID, pad_token_id=EOS_ID)
    fields.update(overrides)
    return LLaDAConfig(**fields)


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    model = LLaDAModelLM(tiny_config()).eval()
    # Random init gives nearly flat distributions; sharper weights make argmax and top-k robust to float noise.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.mul_(8)
    return model
