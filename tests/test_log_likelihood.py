import math

import pytest
import torch

from tiny_models import MASK_ID
from get_log_likelihood import batched_log_likelihood, forward_process, get_log_likelihood


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


class PromptAwarePredictor:
    """Gives each answer token the logit `conditional` while the prompt is visible and `unconditional` when every
    prompt position is masked (CFG's second pass); every other token gets logit 0."""
    device = torch.device("cpu")
    vocab = 16

    def __init__(self, prompt_length, answer, conditional, unconditional):
        self.prompt_length, self.answer = prompt_length, answer
        self.conditional, self.unconditional = conditional, unconditional

    def __call__(self, x, attention_mask=None):
        logits = torch.zeros(x.shape[0], x.shape[1], self.vocab)
        prompt_masked = (x[:, :self.prompt_length] == MASK_ID).all(dim=1)
        value = torch.where(prompt_masked, self.unconditional, self.conditional)
        positions = torch.arange(self.prompt_length, x.shape[1])
        logits[:, positions, self.answer] = value[:, None]
        return type("Out", (), {"logits": logits})()


@pytest.mark.parametrize("cfg_scale", [0.0, 0.5, 2.0])
def test_cfg_estimate_is_the_closed_form(cfg_scale):
    """With guidance w the predictor's logits are u + (w + 1)(c - u), c with the prompt, u with the prompt masked.
    Every answer token gets the same guided probability here, so the estimate is exact: n log softmax(...)."""
    prompt, answer = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6, 7, 8])
    model = PromptAwarePredictor(len(prompt), answer, conditional=3.0, unconditional=1.0)
    estimate = get_log_likelihood(model, prompt, answer, mc_num=16, batch_size=8, cfg_scale=cfg_scale,
                                  mask_id=MASK_ID)
    guided = 1.0 + (cfg_scale + 1) * (3.0 - 1.0)
    expected = len(answer) * (guided - math.log(math.exp(guided) + model.vocab - 1))
    assert estimate == pytest.approx(expected, rel=1e-5)
    if cfg_scale:  # guidance changes the value: neither the conditional nor a w-weighted mix
        assert estimate != pytest.approx(len(answer) * (3.0 - math.log(math.exp(3.0) + 15)), rel=1e-3)
        mixed = 1.0 + cfg_scale * 2.0
        assert estimate != pytest.approx(len(answer) * (mixed - math.log(math.exp(mixed) + 15)), rel=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mc_num=10, batch_size=4), "multiple of batch_size"),
    (dict(answer=torch.tensor([], dtype=torch.long)), "answer is empty"),
])
def test_bad_arguments(tiny_model, kwargs, message):
    settings = dict(prompt=torch.tensor([1, 2]), answer=torch.tensor([3]), mask_id=MASK_ID)
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        get_log_likelihood(tiny_model, **settings)


def test_batched_estimate_of_padded_rows_is_each_rows_own(tiny_model):
    """batched_log_likelihood over right-padded rows of different lengths, seeded per row, gives each row the
    estimate get_log_likelihood gives it alone after the same seed, however many rounds share a model call."""
    pairs = [([1, 2, 3], [4, 5]), ([7], [8, 9, 10, 11, 12, 13]), ([2, 2, 2, 2, 2], [3])]
    width = 10
    rows = torch.full((len(pairs), width), 0, dtype=torch.long)
    attention = torch.zeros_like(rows)
    for i, (prompt, answer) in enumerate(pairs):
        rows[i, :len(prompt) + len(answer)] = torch.tensor(prompt + answer)
        attention[i, :len(prompt) + len(answer)] = 1
    seeds = [3, 1, 4]
    alone = []
    for (prompt, answer), seed in zip(pairs, seeds):
        torch.manual_seed(seed)
        alone.append(get_log_likelihood(tiny_model, torch.tensor(prompt), torch.tensor(answer), mc_num=8,
                                        batch_size=4, cfg_scale=0.5, mask_id=MASK_ID))
    for forward_batch in (None, 8, 100):
        batched = batched_log_likelihood(tiny_model, rows, [len(p) for p, _ in pairs], attention_mask=attention,
                                         seeds=seeds, mc_num=8, batch_size=4, cfg_scale=0.5, mask_id=MASK_ID,
                                         forward_batch=forward_batch)
        assert batched == pytest.approx(alone, rel=1e-5, abs=1e-5)
    attention[2, 5] = 0  # row 2 is then its prompt alone
    with pytest.raises(ValueError, match="answer is empty"):
        batched_log_likelihood(tiny_model, rows, [5, 1, 5], attention_mask=attention, mc_num=4, batch_size=4,
                               mask_id=MASK_ID)
