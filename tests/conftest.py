import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from modeling_llada import LLaDAConfig, LLaDAModelLM  # noqa: E402
from tiny_checkpoint import TOKENIZER_DIR, make_tiny_checkpoint  # noqa: E402

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


@pytest.fixture(scope="module")
def tokenizer():
    """The project's tokenizer (data/tokenizer), for tests of the programs."""
    from transformers import AutoTokenizer
    if not os.path.exists(os.path.join(TOKENIZER_DIR, "tokenizer.json")):
        pytest.skip("data/tokenizer is not built (python data/build_tokenizer.py)")
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizer):
    """A random tiny checkpoint on disk, loadable by path (--model)."""
    return make_tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-llada")))
