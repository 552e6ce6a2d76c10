"""generate() against a straightforward re-statement of the reference algorithm (the original release's generate.py,
as the paper describes it)."""
import pytest
import torch
import torch.nn.functional as F

from tiny_models import EOS_ID, EOT_ID, MASK_ID
from generate import add_gumbel_noise, generate


def reference_gumbel(logits, temperature):
    """The published add_gumbel_noise: exp(logits) / (-log u)^T in float64, u uniform; the logits at T = 0."""
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    noise = torch.rand_like(logits, dtype=torch.float64)
    return logits.exp() / (-torch.log(noise)) ** temperature


@torch.no_grad()
def reference_generate(model, prompt, attention_mask=None, steps=16, gen_length=16, block_length=16,
                       cfg_scale=0., logits_eos_inf=False, confidence_eos_eot_inf=False,
                       eos_last_unrenormalised=False, temperature=0., constraints=None):
    """The published loop with low-confidence remasking: per-row top-k, one row at a time.
    confidence_eos_eot_inf restates its line `logits_with_noise[:, :, EOS] = logits[:, :, EoT] = -inf`, which at
    temperature 0 writes both columns of the one logits tensor after x0 is chosen. eos_last_unrenormalised:
    a rule that only puts EOS/EoT predictions last (confidence - 2) and keeps the others' p(x0) as it is.
    temperature > 0: the published Gumbel-max line, x0 = argmax(add_gumbel_noise(logits)), confidence from the
    noiseless softmax. constraints: {answer position: token} written into the canvas before the first step."""
    x = torch.full((prompt.shape[0], prompt.shape[1] + gen_length), MASK_ID, dtype=torch.long)
    x[:, :prompt.shape[1]] = prompt
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones(prompt.shape[0], gen_length, dtype=torch.long)], 1)
    prompt_index = x != MASK_ID
    for position, token in (constraints or {}).items():
        x[:, prompt.shape[1] + position] = token
    num_blocks = gen_length // block_length
    for nb in range(num_blocks):
        start = prompt.shape[1] + nb * block_length
        block_mask = x[:, start:start + block_length] == MASK_ID
        per_step = steps // num_blocks
        counts = block_mask.sum(1, keepdim=True)
        schedule = torch.zeros(prompt.shape[0], per_step, dtype=torch.long) + counts // per_step
        for row in range(prompt.shape[0]):
            schedule[row, :int(counts[row] % per_step)] += 1
        for i in range(per_step):
            mask_index = x == MASK_ID
            if cfg_scale > 0:
                un_x = x.clone()
                un_x[prompt_index] = MASK_ID
                am = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
                logits, un_logits = model(torch.cat([x, un_x]), attention_mask=am).logits.chunk(2)
                logits = un_logits + (cfg_scale + 1) * (logits - un_logits)
            else:
                logits = model(x, attention_mask=attention_mask).logits
            if logits_eos_inf:
                logits[:, :, EOS_ID] = -torch.inf
            logits_with_noise = reference_gumbel(logits, temperature)  # at temperature 0: logits itself
            x0 = logits_with_noise.argmax(-1)
            if confidence_eos_eot_inf:
                logits_with_noise[:, :, EOS_ID] = logits[:, :, EOT_ID] = -torch.inf
            x0_p = torch.gather(F.softmax(logits, -1), -1, x0[..., None]).squeeze(-1)
            if eos_last_unrenormalised:
                x0_p = torch.where((x0 == EOS_ID) | (x0 == EOT_ID), x0_p - 2, x0_p)
            x0_p[:, start + block_length:] = -torch.inf
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, -torch.inf)
            transfer = torch.zeros_like(x0, dtype=torch.bool)
            for row in range(prompt.shape[0]):
                _, chosen = torch.topk(confidence[row], k=int(schedule[row, i]))
                transfer[row, chosen] = True
            x[transfer] = x0[transfer]
    return x


def random_prompts(lengths, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 50, (n,), generator=generator) for n in lengths]


def left_pad(prompts):
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), EOS_ID, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = p
        mask[row, width - len(p):] = 1
    return ids, mask


def run(model, prompt, **kwargs):
    return generate(model, prompt, mask_id=MASK_ID, eos_id=EOS_ID, eot_id=EOT_ID, **kwargs)


def distinct_answer_tokens(out, prompt_len):
    """The number of distinct tokens in the answers of a batch."""
    return len(set(out[:, prompt_len:].flatten().tolist()))


@pytest.mark.parametrize("settings", [
    dict(steps=16, gen_length=16, block_length=16),
    dict(steps=16, gen_length=16, block_length=4),
    dict(steps=8, gen_length=16, block_length=8),
    dict(steps=12, gen_length=24, block_length=8),
    dict(steps=6, gen_length=16, block_length=8),  # 8 masks in 3 steps: 3, 3, 2
    dict(steps=16, gen_length=16, block_length=8, cfg_scale=1.5),
    dict(steps=16, gen_length=16, block_length=16, logits_eos_inf=True),
])
def test_matches_reference_algorithm(varied_model, settings):
    prompt = torch.stack(random_prompts([7, 7, 7]))
    expected = reference_generate(varied_model, prompt, **settings)
    assert distinct_answer_tokens(expected, 7) >= 10  # a varied answer, so equality means something
    assert torch.equal(run(varied_model, prompt, **settings), expected)


def test_matches_reference_with_padding_and_cfg(varied_model):
    ids, mask = left_pad(random_prompts([5, 9, 3]))
    for cfg in (0., 1.):
        expected = reference_generate(varied_model, ids, attention_mask=mask, steps=8, gen_length=16,
                                      block_length=8, cfg_scale=cfg)
        got = run(varied_model, ids, attention_mask=mask, steps=8, gen_length=16, block_length=8, cfg_scale=cfg)
        assert distinct_answer_tokens(expected, 9) >= 10
        assert torch.equal(got, expected)


def test_left_padded_batch_equals_rows_alone(varied_model):
    prompts = random_prompts([4, 11, 7], seed=3)
    ids, mask = left_pad(prompts)
    batched = run(varied_model, ids, attention_mask=mask, steps=16, gen_length=16, block_length=8)
    assert distinct_answer_tokens(batched, 11) >= 10
    for row, prompt in enumerate(prompts):
        alone = run(varied_model, prompt[None], steps=16, gen_length=16, block_length=8)
        assert torch.equal(batched[row, -16:], alone[0, -16:])


def test_cfg_without_attention_mask_runs(tiny_model):
    out = run(tiny_model, torch.stack(random_prompts([6, 6])), steps=8, gen_length=8, block_length=8, cfg_scale=2.)
    assert (out != MASK_ID).all()


@pytest.mark.parametrize("remasking", ["low_confidence", "random"])
def test_eos_eot_committed_last_and_no_mask_left(remasking):
    """A model that predicts EOS everywhere except at the last answer position: with the option on, the
    non-EOS position must be committed first, and the block must still end fully decoded."""
    class EosModel(torch.nn.Module):
        device = torch.device("cpu")

        def forward(self, x, attention_mask=None):
            logits = torch.zeros(*x.shape, 64)
            logits[:, :, EOS_ID] = 5.0
            logits[:, -1, EOS_ID] = 0.0
            logits[:, -1, 7] = 1.0  # lower confidence than the EOS predictions
            return type("Out", (), {"logits": logits})()

    order = []
    out = run(EosModel(), torch.tensor([[1, 2, 3]]), steps=8, gen_length=8, block_length=8,
              remasking=remasking, confidence_eos_eot_inf=True,
              callback=lambda state: order.append(state.committed[0].nonzero().flatten().tolist()))
    assert (out != MASK_ID).all()
    assert order[0] == [3 + 7]
    assert out[0, -1] == 7 and (out[0, 3:-1] == EOS_ID).all()


class RunnerUpEosModel(torch.nn.Module):
    """A predictor whose runner-up is EOS (or EoT) at every position, by a margin that varies with the position
    and the canvas, so that renormalising without EOS/EoT reorders the positions; a few positions predict EOS
    or EoT outright."""
    device = torch.device("cpu")
    vocab = 64

    def forward(self, x, attention_mask=None):
        batch, length = x.shape
        generator = torch.Generator().manual_seed(7)
        logits = torch.randn(length, self.vocab, generator=generator).expand(batch, -1, -1).clone()
        logits[:, :, MASK_ID] = -torch.inf
        position = torch.arange(length, dtype=torch.float)
        # the canvas (what is decoded, and where) changes predictions and margins from step to step and row to row
        decoded = (x != MASK_ID).float()
        context = (decoded * torch.where(x == MASK_ID, 0, x).float()).sum(dim=1, keepdim=True) * 0.13
        top = ((position * 1.3 + context) % 40).long()
        rows, cols = torch.meshgrid(torch.arange(batch), torch.arange(length), indexing="ij")
        logits[rows, cols, top] = 6.0
        margin = ((position * 0.61 + decoded.sum(dim=1, keepdim=True) * 0.29 + context) % 3.0) - 0.6  # < 0: EOS wins
        runner_up = torch.where((cols % 3) == 0, EOT_ID, EOS_ID)
        logits[rows, cols, runner_up] = 6.0 - margin
        return type("Out", (), {"logits": logits})()


@pytest.mark.parametrize("settings", [
    dict(steps=16, gen_length=16, block_length=16),
    dict(steps=8, gen_length=16, block_length=4),
    dict(steps=12, gen_length=24, block_length=8),
])
def test_eos_eot_rule_matches_reference_lines(settings):
    """confidence_eos_eot_inf at temperature 0 is the reference's computation token for token, and on this
    predictor the renormalisation matters: committing in the unrenormalised order gives other tokens."""
    model = RunnerUpEosModel()
    prompt = torch.tensor([[1, 2, 3, 4, 5], [9, 8, 7, 6, 5]])
    expected = reference_generate(model, prompt, confidence_eos_eot_inf=True, **settings)
    got = run(model, prompt, confidence_eos_eot_inf=True, **settings)
    assert torch.equal(got, expected)
    assert ((got[:, 5:] == EOS_ID) | (got[:, 5:] == EOT_ID)).any()  # EOS/EoT predictions do get committed
    unrenormalised = reference_generate(model, prompt, eos_last_unrenormalised=True, **settings)
    assert not torch.equal(got, unrenormalised)


def test_eos_eot_confidences_are_renormalised():
    """Each step's confidences (the callback's) are p(x0) / (1 - p(EOS) - p(EoT)), and exactly 0 where the
    prediction is EOS or EoT; the threshold rule commits by those numbers."""
    model = RunnerUpEosModel()
    prompt = torch.tensor([[1, 2, 3, 4, 5]])
    states = []
    run(model, prompt, steps=16, gen_length=16, block_length=16, confidence_eos_eot_inf=True,
        callback=lambda state: states.append(state.confidence.clone()))
    probabilities = F.softmax(model(torch.cat([prompt, torch.full((1, 16), MASK_ID)], 1)).logits, -1)
    x0 = probabilities.argmax(-1)
    p_x0 = probabilities.gather(-1, x0[..., None]).squeeze(-1)
    expected = p_x0 / (1 - probabilities[..., EOS_ID] - probabilities[..., EOT_ID])
    expected = torch.where((x0 == EOS_ID) | (x0 == EOT_ID), 0., expected)
    answer = slice(5, 21)
    assert (expected[0, answer] == 0).any() and (expected[0, answer] > 0.5).any()
    assert torch.allclose(states[0][0, answer], expected[0, answer], atol=1e-6)
    threshold = 0.8
    committed = []
    run(model, prompt, steps=16, gen_length=16, block_length=16, confidence_eos_eot_inf=True, threshold=threshold,
        callback=lambda state: committed.append(state.committed[0, answer].clone()))
    above = expected[0, answer] > threshold
    assert above.sum() > 1 and torch.equal(committed[0], above)


def test_eos_eot_rule_at_temperature_removes_both_columns():
    """At temperature > 0 the rule is the same (the reference lost its EOS write there): an EOS prediction gets
    confidence 0 and others are renormalised without EOS and EoT."""
    model = RunnerUpEosModel()
    prompt = torch.tensor([[1, 2, 3, 4, 5]])
    states = []
    torch.manual_seed(0)
    out = run(model, prompt, steps=16, gen_length=16, block_length=16, temperature=0.7, confidence_eos_eot_inf=True,
              callback=lambda s: states.append((s.x.clone(), s.committed.clone(), s.confidence.clone())))
    x, committed, confidence = states[0]
    logits = model(torch.cat([prompt, torch.full((1, 16), MASK_ID)], 1)).logits
    logits[:, :, EOS_ID] = logits[:, :, EOT_ID] = -torch.inf
    probabilities = F.softmax(logits, -1)
    chosen = x[committed]
    expected = probabilities[committed].gather(-1, chosen[:, None]).squeeze(-1)
    expected = torch.where((chosen == EOS_ID) | (chosen == EOT_ID), 0., expected)
    assert torch.allclose(confidence[committed], expected, atol=1e-6)
    assert (out != MASK_ID).all()


def test_callback_sees_every_step_and_final_canvas(tiny_model):
    states = []
    out = run(tiny_model, torch.stack(random_prompts([5])), steps=8, gen_length=16, block_length=8,
              callback=lambda s: states.append((s.step, s.block, s.x.clone(), int(s.committed.sum()))))
    assert [s[0] for s in states] == list(range(8))
    assert [s[1] for s in states] == [0] * 4 + [1] * 4
    assert sum(s[3] for s in states) == 16
    assert torch.equal(states[-1][2], out)


@pytest.mark.parametrize("settings", [dict(steps=8, gen_length=8, block_length=8),
                                      dict(steps=16, gen_length=16, block_length=4)])
def test_constraints_are_pinned_and_the_rest_is_the_reference_given_the_pins(varied_model, settings):
    """The pinned tokens sit in the canvas from the first step: the other positions are decoded around them, as
    the reference sampler decodes a canvas that starts with those tokens."""
    prompt = torch.stack(random_prompts([5, 5]))
    pins = {0: 11, 5: 12}
    out = run(varied_model, prompt, constraints=pins, **settings)
    assert (out[:, 5] == 11).all() and (out[:, 10] == 12).all()
    assert torch.equal(out, reference_generate(varied_model, prompt, constraints=pins, **settings))
    # the pins change the rest of the answer (so the comparison above is not the unconstrained answer again)
    free = run(varied_model, prompt, **settings)
    others = [i for i in range(5, 5 + settings["gen_length"]) if i not in (5, 10)]
    assert not torch.equal(out[:, others], free[:, others])


@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_temperature_sampling_is_the_reference_draw(varied_model, temperature):
    """With the same seed, generate() at temperature T draws what the published Gumbel-max line draws, token for
    token; the draw differs from the greedy answer and from other seeds, and is reproducible."""
    prompt = torch.stack(random_prompts([5, 5]))
    settings = dict(steps=16, gen_length=16, block_length=8)
    samples = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        sampled = run(varied_model, prompt, temperature=temperature, **settings)
        torch.manual_seed(seed)
        expected = reference_generate(varied_model, prompt, temperature=temperature, **settings)
        assert torch.equal(sampled, expected) and (sampled != MASK_ID).all()
        samples.append(sampled)
    torch.manual_seed(0)
    assert torch.equal(run(varied_model, prompt, temperature=temperature, **settings), samples[0])
    greedy = run(varied_model, prompt, **settings)
    assert not torch.equal(samples[0], greedy) and not torch.equal(samples[0], samples[1])


def test_gumbel_noise_samples_the_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([0.0, 1.0, 2.0]).repeat(20000, 1)
    draws = add_gumbel_noise(logits, 1.0).argmax(-1)
    frequencies = torch.bincount(draws, minlength=3).double() / len(draws)
    assert torch.allclose(frequencies, F.softmax(logits[0].double(), -1), atol=0.015)


def test_minimal_model_object_is_enough():
    class Uniform:
        device = torch.device("cpu")

        def __call__(self, x, attention_mask=None):
            return type("Out", (), {"logits": torch.zeros(*x.shape, 64)})()

    assert run(Uniform(), torch.tensor([[1, 2]]), steps=4, gen_length=4, block_length=4).shape == (1, 6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(gen_length=10, block_length=4, steps=10), "multiple of block_length"),
    (dict(gen_length=16, block_length=4, steps=6), "multiple of the number of blocks"),
    (dict(gen_length=16, block_length=4, steps=2), "fewer than the 4 blocks"),
    (dict(remasking="lowest"), "remasking must be one of"),
    (dict(gen_length=512, block_length=512, steps=512), "max_sequence_length"),
])
def test_bad_arguments_raise_clear_errors(tiny_model, kwargs, message):
    settings = dict(steps=8, gen_length=8, block_length=8)
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        run(tiny_model, torch.tensor([[1, 2, 3]]), **settings)


@pytest.mark.parametrize("flag", ["logits_eos_inf", "confidence_eos_eot_inf"])
def test_eos_ids_outside_the_vocabulary_are_rejected(tiny_model, flag):
    """The default ids are LLaDA-8B's: on another vocabulary the EOS options need the tokenizer's ids."""
    with pytest.raises(ValueError, match="outside the model's 64 logits"):
        generate(tiny_model, torch.tensor([[1, 2, 3]]), steps=8, gen_length=8, block_length=8, mask_id=MASK_ID,
                 **{flag: True})


def test_padding_with_mask_id_is_rejected(tiny_model):
    with pytest.raises(ValueError, match="padding uses the mask token"):
        run(tiny_model, torch.tensor([[MASK_ID, 2, 3]]), attention_mask=torch.tensor([[0, 1, 1]]),
            steps=8, gen_length=8, block_length=8)
