import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tiny_models  # noqa: E402
from tiny_models import TOKENIZER_DIR  # noqa: E402

# One intra-op thread in the test process: the test models are tiny, and on a busy 2-core machine two threads
# made some tests 10-20 times slower (spinning workers) without making any faster. Subprocesses set their own.
torch.set_num_threads(1)


@pytest.fixture
def tiny_model():
    return tiny_models.tiny_model()


@pytest.fixture
def varied_model():
    return tiny_models.tiny_model(weights="varied")


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
    return tiny_models.tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-llada")), max_sequence_length=512)


@pytest.fixture(scope="module")
def varied_checkpoint(tmp_path_factory, tokenizer):
    """A random tiny checkpoint whose answers vary (26-35 distinct tokens in 64), for tests that compare a program's
    answers with generate()'s token for token."""
    return tiny_models.tiny_checkpoint(str(tmp_path_factory.mktemp("varied-llada")), weights="varied",
                                       max_sequence_length=512)
