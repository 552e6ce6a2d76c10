import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from modeling_llada import LLaDAConfig, LLaDAModelLM  # noqa: E402
from tiny_checkpoint import TOKENIZER_DIR, make_tiny_checkpoint  # noqa: E402

MASK_ID, EOS_ID, EOT_ID = 60, 61, 62

# One intra-op thread in the test process: the test models are tiny, and on a busy 2-core machine two threads
# made some tests 10-20 times slower (spinning workers) without making any faster. Subprocesses set their own.
torch.set_num_threads(1)


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


def make_varied_model(seed=0, **overrides):
    """A random tiny LLaDA whose answers vary from position to position, for tests that claim token identity.

    The plain random model (even with the x8 weights of `tiny_model`) mostly repeats one or two tokens over a whole
    answer, so comparing two samplers on it catches little. Here the attention is sharp (q and k x3 on top of the
    x8) and RoPE turns fast (theta 100), so each position attends to different neighbours: greedy answers of 32
    tokens hold 9-14 distinct tokens per row. The lm head's mask-token row is zeroed, so the mask token (logit 0)
    is practically never the prediction, as in a trained model, and every answer ends fully decoded."""
    torch.manual_seed(seed)
    return vary(LLaDAModelLM(tiny_config(**overrides)).eval(), MASK_ID)


def vary(model, mask_id):
    """make_varied_model's recipe applied in place to a random LLaDAModelLM: weights x8, q and k x3 more, RoPE theta
    100, the lm head's row of the mask token zeroed. Returns the model."""
    model.config.rope_theta = 100.0
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 2:
                parameter.mul_(8)
            if "q_proj" in name or "k_proj" in name:
                parameter.mul_(3)
        model.model.transformer.ff_out.weight[mask_id] = 0
    return model


@pytest.fixture
def varied_model():
    return make_varied_model()


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


@pytest.fixture(scope="module")
def varied_checkpoint(tmp_path_factory, tokenizer):
    """A random tiny checkpoint whose answers vary (26-35 distinct tokens in 64), for tests that compare a program's
    answers with generate()'s token for token."""
    return make_tiny_checkpoint(str(tmp_path_factory.mktemp("varied-llada")), varied=True)
