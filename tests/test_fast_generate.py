"""Fast sampling: the model's KV cache, and generate()'s cache / parallel decoding / block logits / early exit.

Exact options must give the reference tokens; the approximate ones (cache, threshold, factor) are checked where
they provably reduce to the reference, and otherwise for completeness and batch independence."""
import pytest
import torch

from conftest import EOS_ID, MASK_ID, tiny_config
from generate import select_parallel
from modeling_llada import LLaDACache, LLaDAModelLM
from test_generate import left_pad, run
from test_generate import random_prompts as prompts


def returned_cache(out):
    """The output's cache field: `cache` in recent transformers, `past_key_values` before."""
    return out.cache if hasattr(out, "cache") else out.past_key_values


class Counter:
    """Counts the model's forward calls through a hook."""

    def __init__(self, model):
        self.calls = 0
        self.handle = model.register_forward_hook(self.hook)

    def hook(self, *args):
        self.calls += 1


# ----------------------------------------------------------------------------- the model's cache


@pytest.mark.parametrize("n_kv_heads", [4, 2])
def test_cache_reproduces_full_forward(n_kv_heads):
    torch.manual_seed(0)
    model = LLaDAModelLM(tiny_config(n_kv_heads=n_kv_heads)).eval()
    ids, mask = left_pad(prompts([12, 20]))
    with torch.no_grad():
        full = model(ids, attention_mask=mask, use_cache=True)
        cache = returned_cache(full)
        assert isinstance(cache, LLaDACache) and len(cache) == 2 and cache.get_seq_length() == 20
        assert cache.keys[0].shape == (2, n_kv_heads, 20, 8)  # stored before the GQA repeat
        stored = cache.keys[0].data_ptr()
        # Re-run positions 8..14 against the cache: same tokens, so the same logits; written in place.
        part = model(ids[:, 8:14], attention_mask=mask, past_key_values=cache, cache_position=torch.arange(8, 14))
        assert torch.allclose(part.logits, full.logits[:, 8:14], atol=1e-4)
        assert cache.keys[0].data_ptr() == stored
        # The suffix from 8 on (the prefix-cache call) and logits_to_keep as a slice, an int and indices.
        tail = model(ids[:, 8:], attention_mask=mask, past_key_values=cache, cache_position=8,
                     logits_to_keep=slice(0, 4))
        assert torch.allclose(tail.logits, full.logits[:, 8:12], atol=1e-4)
        last = model(ids, attention_mask=mask, logits_to_keep=3).logits
        assert torch.allclose(last, full.logits[:, -3:], atol=1e-5)
        picked = model(ids, attention_mask=mask, logits_to_keep=torch.tensor([0, 5])).logits
        assert torch.allclose(picked, full.logits[:, [0, 5]], atol=1e-5)


def test_cache_sees_in_place_changes_of_other_positions():
    """Changing a token and writing only its K/V into the cache gives what a full forward of the new canvas gives
    at positions whose own entries are all fresh: the cache really carries the new token."""
    torch.manual_seed(0)
    model = LLaDAModelLM(tiny_config(n_layers=1)).eval()
    ids = prompts([16])[0][None]
    changed = ids.clone()
    changed[0, 3] = 7
    with torch.no_grad():
        cache = returned_cache(model(ids, use_cache=True))
        model(changed[:, 3:4], past_key_values=cache, cache_position=3)
        # With one layer, K/V depend only on each position's own token, so the cache now equals a fresh one.
        got = model(changed[:, 10:], past_key_values=cache, cache_position=10).logits
        assert torch.allclose(got, model(changed).logits[:, 10:], atol=1e-4)


def test_cache_errors_are_clear(tiny_model):
    ids = prompts([10])[0][None]
    with torch.no_grad():
        cache = returned_cache(tiny_model(ids, use_cache=True))
        with pytest.raises(ValueError, match="attention_mask covers"):
            tiny_model(ids[:, :4], attention_mask=torch.ones(1, 4), past_key_values=cache, cache_position=0)
        with pytest.raises(ValueError, match="past the cached length"):
            tiny_model(ids[:, :4], past_key_values=cache, cache_position=12)


def test_model_forward_without_cache_unchanged(tiny_model):
    ids = prompts([9])[0][None]
    out = tiny_model(ids)
    assert out.logits.shape == (1, 9, 64)
    assert torch.equal(tiny_model.model(ids), out.logits)


# ----------------------------------------------------------------------------- exact options

EXACT_SETTINGS = [
    dict(steps=32, gen_length=32, block_length=8),
    dict(steps=16, gen_length=32, block_length=8),
    dict(steps=16, gen_length=16, block_length=16, cfg_scale=1.0),
    dict(steps=16, gen_length=16, block_length=4, logits_eos_inf=True),
    dict(steps=16, gen_length=16, block_length=8, confidence_eos_eot_inf=True, constraints={2: 11}),
]


@pytest.mark.parametrize("settings", EXACT_SETTINGS)
def test_defaults_and_block_logits_are_token_identical(tiny_model, settings):
    prompt = torch.stack(prompts([7, 7]))
    reference = run(tiny_model, prompt, **settings)
    assert torch.equal(run(tiny_model, prompt, cache=None, threshold=None, factor=None, **settings), reference)
    assert torch.equal(run(tiny_model, prompt, block_logits=True, **settings), reference)


def test_block_logits_identical_with_padding(tiny_model):
    ids, mask = left_pad(prompts([5, 11, 3]))
    for cfg in (0., 1.):
        reference = run(tiny_model, ids, attention_mask=mask, steps=16, gen_length=16, block_length=8, cfg_scale=cfg)
        fast = run(tiny_model, ids, attention_mask=mask, steps=16, gen_length=16, block_length=8, cfg_scale=cfg,
                   block_logits=True)
        assert torch.equal(fast, reference)


class StopModel(torch.nn.Module):
    """Predicts token 7 at the first `stop` answer positions and EOS after them, confidently, whatever the canvas;
    takes the cache/logits_to_keep arguments and ignores the cache."""

    def __init__(self, prompt_len, stop):
        super().__init__()
        self.prompt_len, self.stop = prompt_len, stop
        self.device = torch.device("cpu")

    def forward(self, x, attention_mask=None, logits_to_keep=0, cache_position=None, past_key_values=None,
                use_cache=False):
        start = 0 if cache_position is None else int(cache_position[0])
        positions = torch.arange(start, start + x.shape[1])
        logits = torch.zeros(x.shape[0], x.shape[1], 64)
        answer = positions - self.prompt_len
        logits[:, :, EOS_ID] = torch.where(answer >= self.stop, 10.0, 0.0)
        logits[:, :, 7] = torch.where(answer < self.stop, 10.0, 0.0) + 0.01 * positions  # distinct confidences
        if isinstance(logits_to_keep, slice):
            logits = logits[:, logits_to_keep]
        return type("Out", (), {"logits": logits, "past_key_values": past_key_values if use_cache else None})()


@pytest.mark.parametrize("options", [dict(), dict(block_logits=True), dict(cache="dual"), dict(threshold=0.9)])
def test_early_exit_is_exact_and_stops(options):
    model = StopModel(prompt_len=3, stop=10)
    prompt = torch.tensor([[1, 2, 3]])
    reference = run(model, prompt, steps=64, gen_length=64, block_length=8, **options)
    counter = Counter(model)
    fast = run(model, prompt, steps=64, gen_length=64, block_length=8, early_exit=True, **options)
    assert torch.equal(fast, reference)
    assert (fast[0, 13:] == EOS_ID).all() and (fast[0, 3:13] == 7).all()
    # EOS first appears in block 1 (answer positions 8..15); block 2's first forward sees it and stops.
    per_block = 1 if "threshold" in options else 8
    assert counter.calls == 2 * per_block + 1


def test_early_exit_waits_for_every_row():
    model = StopModel(prompt_len=3, stop=10)
    ids, mask = left_pad([torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])])
    out = run(model, ids, attention_mask=mask, steps=32, gen_length=32, block_length=8, early_exit=True)
    assert torch.equal(out, run(model, ids, attention_mask=mask, steps=32, gen_length=32, block_length=8))


# ----------------------------------------------------------------------------- cache modes


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_cache_is_exact_with_one_step_per_block(tiny_model, cache):
    """Each block's first step runs on a freshly refreshed cache, i.e. the whole canvas: one step per block
    makes the cache modes exact."""
    ids, mask = left_pad(prompts([6, 9]))
    for cfg in (0., 1.):
        settings = dict(attention_mask=mask, steps=4, gen_length=32, block_length=8, cfg_scale=cfg)
        assert torch.equal(run(tiny_model, ids, cache=cache, **settings), run(tiny_model, ids, **settings))


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_cache_fewer_positions_and_complete_output(tiny_model, cache):
    prompt = torch.stack(prompts([7, 7]))
    reference = run(tiny_model, prompt, steps=32, gen_length=32, block_length=8)
    seen = []
    tiny_model.register_forward_hook(lambda module, args, kwargs, out: seen.append(args[0].shape[1]),
                                     with_kwargs=True)
    out = run(tiny_model, prompt, steps=32, gen_length=32, block_length=8, cache=cache)
    # (This random model sometimes predicts the mask token itself; only the parallel modes forbid that.)
    assert torch.equal(out[:, :7], prompt)
    assert (out == reference).float().mean() > 0.5  # approximate, but close on this model
    # Each block: one refresh over the whole canvas (39 tokens), then 7 steps over the block (dual) or the block
    # and the masked suffix (prefix).
    expected = []
    for block in range(4):
        expected += [39] + [8 if cache == "dual" else 32 - 8 * block] * 7
    assert seen == expected


@pytest.mark.parametrize("options", [dict(cache="prefix"), dict(cache="dual"), dict(cache="dual", threshold=0.5),
                                     dict(factor=1.0), dict(cache="prefix", threshold=0.3, cfg_scale=1.0)])
def test_padded_batch_equals_rows_alone(tiny_model, options):
    """Rows decode independently: a row's block may finish steps before its neighbours'."""
    rows = prompts([4, 11, 7], seed=3)
    ids, mask = left_pad(rows)
    batched = run(tiny_model, ids, attention_mask=mask, steps=16, gen_length=16, block_length=8, **options)
    for i, row in enumerate(rows):
        alone = run(tiny_model, row[None], steps=16, gen_length=16, block_length=8, **options)
        assert torch.equal(batched[i, -16:], alone[0, -16:])


# ----------------------------------------------------------------------------- parallel decoding


def test_threshold_one_is_one_token_per_step_reference(tiny_model):
    """threshold=1 is never exceeded, so each step commits ceil(masked / steps left) = 1 when steps = length:
    the reference schedule, token for token."""
    prompt = torch.stack(prompts([7, 7]))
    reference = run(tiny_model, prompt, steps=32, gen_length=32, block_length=8)
    assert torch.equal(run(tiny_model, prompt, steps=32, gen_length=32, block_length=8, threshold=1.0), reference)


def test_threshold_zero_commits_whole_blocks(tiny_model):
    prompt = torch.stack(prompts([7, 7]))
    counter = Counter(tiny_model)
    out = run(tiny_model, prompt, steps=32, gen_length=32, block_length=8, threshold=0.0)
    assert counter.calls == 4
    assert torch.equal(out, run(tiny_model, prompt, steps=4, gen_length=32, block_length=8))


def test_steps_bound_parallel_decoding(tiny_model):
    """With steps < gen_length each block still ends within its steps, whatever the threshold."""
    counter = Counter(tiny_model)
    states = []
    out = run(tiny_model, torch.stack(prompts([5])), steps=8, gen_length=32, block_length=8, threshold=0.999,
              cache="dual", callback=lambda s: states.append((s.block, int(s.committed.sum()))))
    assert (out != MASK_ID).all() and counter.calls == 8
    assert [b for b, _ in states] == [0, 0, 1, 1, 2, 2, 3, 3] and sum(n for _, n in states) == 32


def test_select_parallel_rules():
    confidence = torch.tensor([[0.99, 0.5, 0.95, -torch.inf, 0.8, 0.2]])
    # threshold 0.9: the two above it.
    assert select_parallel(confidence, 10, threshold=0.9).tolist() == [[True, False, True, False, False, False]]
    # at least one per step; at least ceil(5 candidates / 2 steps) = 3 when two steps remain.
    assert select_parallel(confidence, 10, threshold=0.999).sum() == 1
    assert select_parallel(confidence, 2, threshold=0.999).tolist() == [[True, False, True, False, True, False]]
    # factor rule, sorted c = .99 .95 .8 .5 .2: (n+1)(1-c_n) = .02 .15 .8 2.5 4.8
    assert select_parallel(confidence, 10, factor=1.0).sum() == 3
    assert select_parallel(confidence, 10, factor=0.1).sum() == 1
    assert select_parallel(confidence, 10, factor=3.0).sum() == 4
    # a row without candidates commits nothing
    assert select_parallel(torch.full((1, 4), -torch.inf), 3, threshold=0.5).sum() == 0


def test_parallel_decoding_cuts_steps_on_a_confident_model():
    model = StopModel(prompt_len=3, stop=40)
    counter = Counter(model)
    out = run(model, torch.tensor([[1, 2, 3]]), steps=64, gen_length=64, block_length=32, threshold=0.9,
              cache="prefix")
    assert counter.calls == 2 and (out[0, 3:43] == 7).all() and (out[0, 43:] == EOS_ID).all()


def test_callback_and_steps_with_fast_options(tiny_model):
    prompt = torch.stack(prompts([5]))
    states = []
    out = run(tiny_model, prompt, steps=16, gen_length=16, block_length=8, cache="dual", threshold=0.6,
              callback=lambda s: states.append((s.step, s.block, s.x.clone(), s.committed.clone(),
                                                s.confidence.clone())))
    assert [s[0] for s in states] == list(range(len(states)))
    assert sum(int(s[3].sum()) for s in states) == 16 and torch.equal(states[-1][2], out)
    for _, block, _, committed, confidence in states:
        assert committed.shape == out.shape and confidence.shape == out.shape
        lo = 5 + 8 * block
        assert not committed[:, :lo].any() and not committed[:, lo + 8:].any()
        assert torch.isfinite(confidence[committed]).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(cache="full"), "cache must be one of"),
    (dict(threshold=0.9, factor=1.0), "threshold or factor"),
    (dict(threshold=1.5), "threshold is a probability"),
    (dict(factor=0), "factor must be > 0"),
    (dict(early_exit=True, logits_eos_inf=True), "early_exit"),
])
def test_fast_option_errors(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(tiny_model, torch.tensor([[1, 2, 3]]), steps=8, gen_length=8, block_length=8, **kwargs)


def test_cache_argument_under_either_name(tiny_model):
    ids = prompts([10])[0][None]
    with torch.no_grad():
        full = tiny_model(ids, use_cache=True)
        cache = returned_cache(full)
        by_new_name = tiny_model(ids[:, 4:6], cache=cache, cache_position=torch.arange(4, 6)).logits
        by_old_name = tiny_model(ids[:, 4:6], past_key_values=cache, cache_position=torch.arange(4, 6)).logits
    assert torch.allclose(by_new_name, full.logits[:, 4:6], atol=1e-4) and torch.equal(by_new_name, by_old_name)
