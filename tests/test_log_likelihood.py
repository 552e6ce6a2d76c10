import math

import pytest
import torch

from conftest import MASK_ID
from get_log_likelihood import forward_process, get_log_likelihood


class FixedPredictor:
    """A mask predictor whose distribution at each position ignores the input: log p(answer) is exact."""
    device = torch.device("cpu")

    def __init__(self, log_probs):
        self.log_probs = log_probs  # (L, V)

    def __call__(self, x, attention_mask=None):
        return type("Out", (), {"logits": self.log_probs[None].expand(x.shape[0], -1, -1).clone()})()


def test_estimate_is_exact_when_every_answer_token_has_the_same_probability():
    vocab, prompt, answer = 16, torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6, 7, 8])
    log_probs = torch.full((8, vocab), math.log(0.5 / (vocab - 1)))
    for position, token in enumerate(answer.tolist(), start=3):
        log_probs[position, token] = math.log(0.5)
    estimate = get_log_likelihood(FixedPredictor(log_probs), prompt, answer, mc_num=32, batch_size=8,
                                  mask_id=MASK_ID)
    assert estimate == pytest.approx(5 * math.log(0.5), rel=1e-5)


def test_estimate_converges_to_exact_sum():
    torch.manual_seed(0)
    vocab, prompt, answer = 16, torch.tensor([1, 2]), torch.tensor([3, 9, 4, 12])
    log_probs = torch.log_softmax(torch.randn(6, vocab) * 2, dim=-1)
    exact = sum(log_probs[2 + i, t].item() for i, t in enumerate(answer.tolist()))
    estimate = get_log_likelihood(FixedPredictor(log_probs), prompt, answer, mc_num=4096, batch_size=64,
                                  mask_id=MASK_ID)
    assert estimate == pytest.approx(exact, abs=0.15 * abs(exact))


def test_forward_process_stratifies_mask_counts_and_never_masks_the_prompt():
    torch.manual_seed(0)
    batch = torch.arange(20).repeat(8, 1)
    noisy, fraction = forward_process(batch, prompt_length=4, mask_id=MASK_ID)
    masked = noisy == MASK_ID
    assert not masked[:, :4].any()
    counts = masked.sum(1)
    assert torch.equal(counts.float() / 16, fraction[:, 0])
    assert ((1 <= counts) & (counts <= 16)).all()
    assert len(set(counts.tolist())) == 8  # stratified: 8 distinct counts spread over 1..16


def test_trained_scale_model_runs_with_cfg(tiny_model):
    value = get_log_likelihood(tiny_model, torch.tensor([1, 2, 3]), torch.tensor([4, 5]), mc_num=8, batch_size=4,
                               cfg_scale=0.5, mask_id=MASK_ID)
    assert math.isfinite(value) and value < 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(mc_num=10, batch_size=4), "multiple of batch_size"),
    (dict(answer=torch.tensor([], dtype=torch.long)), "answer is empty"),
])
def test_bad_arguments(tiny_model, kwargs, message):
    settings = dict(prompt=torch.tensor([1, 2]), answer=torch.tensor([3]), mask_id=MASK_ID)
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        get_log_likelihood(tiny_model, **settings)
