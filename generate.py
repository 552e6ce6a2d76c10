"""generate(): sampling from a LLaDA mask predictor by iterative unmasking.

This file imports only torch (plus the standard library) so that `generate` can be copied into other
code. It needs only a model whose call `model(x, attention_mask=...)` returns an object with `.logits`
(b, L, V) and which has `.device`.

The answer starts as `gen_length` mask tokens after the prompt. It is split into blocks decoded left to
right (block_length < gen_length is the paper's semi-autoregressive remasking); each block gets an equal
share of the steps, and at every step the most confident masked positions of the current block take
their predictions while the rest stay masked.

Fast sampling (keyword options, all off by default): `cache='prefix'|'dual'` (Fast-dLLM's block-wise
approximate KV cache), `threshold=` / `factor=` (parallel decoding: several tokens per step),
`block_logits=True` (lm head on the active block only; exact) and `early_exit=True` (stop once the rest can only
be EOS; exact when it applies). See generate()'s docstring and benchmarks/README.md for measured speedups.

Run `python generate.py` for the reference example: three word problems in one left-padded batch;
`python generate.py --cache dual --threshold 0.9` samples them the fast way.
"""

import argparse
import math
from typing import Callable, NamedTuple, Optional

import torch
import torch.nn.functional as F

REMASKING = ("low_confidence", "random")


class StepState(NamedTuple):
    """What a per-step callback sees after each denoising step.

    x: the canvas (b, prompt_len + gen_length) after this step's commits; committed: bool (b, L), the
    positions committed at this step; confidence: (b, L) float, the confidence each position's prediction
    had at this step (-inf where the step decided nothing: outside its region, and in rows that sat it out, see
    generate()); step: 0-based index over all steps; block: 0-based block index."""
    step: int
    block: int
    x: torch.Tensor
    committed: torch.Tensor
    confidence: torch.Tensor


def add_gumbel_noise(logits, temperature):
    """Gumbel-max sampling in float64: argmax(exp(logits) / (-log u)^T) draws from softmax(logits / T).
    Low precision here measurably hurts generation quality, hence float64."""
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    noise = torch.rand_like(logits, dtype=torch.float64)
    gumbel_noise = (-torch.log(noise)) ** temperature
    return logits.exp() / gumbel_noise


def get_num_transfer_tokens(block_mask_index, steps):
    """Tokens to unmask at each of `steps` steps, per row: equal shares (the linear schedule), with the
    remainder spread over the first steps. block_mask_index: bool (b, block_length)."""
    mask_num = block_mask_index.sum(dim=1, keepdim=True)
    base = mask_num // steps
    remainder = mask_num % steps
    step_ids = torch.arange(steps, device=block_mask_index.device)
    return base + (step_ids[None, :] < remainder).long()


def select_top_k(confidence, k):
    """Bool mask of the k[row] highest-confidence positions of each row (ties: lower index first)."""
    order = torch.sort(confidence, dim=-1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(confidence.shape[1], device=confidence.device).expand_as(order))
    return ranks < k[:, None]


def check_sampling_options(steps, gen_length, block_length, temperature=0., cfg_scale=0.,
                           remasking="low_confidence", cache=None, threshold=None, factor=None, early_exit=False,
                           logits_eos_inf=False):
    """ValueError saying what to change when generate() could not run with these options; returns the number
    of blocks. The harnesses call it when they are built, before any request."""
    if gen_length <= 0 or block_length <= 0 or steps <= 0:
        raise ValueError(f"gen_length, block_length and steps must be positive "
                         f"(got {gen_length}, {block_length}, {steps})")
    if gen_length % block_length:
        raise ValueError(f"gen_length={gen_length} must be a multiple of block_length={block_length}; "
                         f"pick a block_length that divides it")
    num_blocks = gen_length // block_length
    if steps < num_blocks:
        raise ValueError(f"steps={steps} is fewer than the {num_blocks} blocks; use at least one step per block")
    if steps % num_blocks:
        raise ValueError(f"steps={steps} must be a multiple of the number of blocks "
                         f"(gen_length/block_length = {num_blocks})")
    if remasking not in REMASKING:
        raise ValueError(f"remasking must be one of {REMASKING}, got {remasking!r}")
    if not (math.isfinite(temperature) and math.isfinite(cfg_scale)) or temperature < 0 or cfg_scale < 0:
        raise ValueError(f"temperature and cfg_scale must be finite and >= 0 (got {temperature}, {cfg_scale})")
    _check_fast_options(cache, threshold, factor, early_exit, logits_eos_inf)
    return num_blocks


def _check_arguments(model, prompt, attention_mask, steps, gen_length, block_length, temperature, cfg_scale,
                     remasking, mask_id, eos_ids, fast_options):
    if prompt.dim() != 2:
        raise ValueError(f"prompt must be a (batch, length) tensor of token ids, got shape {tuple(prompt.shape)}")
    num_blocks = check_sampling_options(steps, gen_length, block_length, temperature, cfg_scale, remasking,
                                        **fast_options)
    if attention_mask is not None:
        if attention_mask.shape != prompt.shape:
            raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} must equal the prompt's "
                             f"{tuple(prompt.shape)}")
        if (prompt[attention_mask == 0] == mask_id).any():
            raise ValueError("the padding uses the mask token id; pad with another token (EOS, as LLaDA does)")
    config = getattr(model, "config", None)
    vocab = getattr(config, "embedding_size", None) or getattr(config, "vocab_size", None)
    if vocab is not None and any(token >= vocab for token in eos_ids):
        raise ValueError(f"eos_id / eot_id {sorted(eos_ids)} lie outside the model's {vocab} logits; pass the "
                         f"tokenizer's ids (the defaults are LLaDA-8B's)")
    check_length(model, prompt.shape[1], gen_length)
    return num_blocks


def check_length(model, prompt_length, answer_length):
    """ValueError when prompt + answer exceed the model's max_sequence_length (when its config has one)."""
    max_length = getattr(getattr(model, "config", None), "max_sequence_length", None)
    if max_length is not None and prompt_length + answer_length > max_length:
        raise ValueError(f"prompt length {prompt_length} + answer length {answer_length} exceeds the model's "
                         f"max_sequence_length {max_length}; shorten the prompt or the answer")


def finite_float(text):
    """argparse type: a float that is not NaN or infinite."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def model_logits(model, x, attention_mask, prompt_index, cfg_scale, mask_id):
    """Logits for the canvas x; with cfg_scale > 0, unsupervised classifier-free guidance: a second pass
    with every prompt position masked, combined as u + (w + 1)(c - u)."""
    return _forward(model, x, attention_mask, prompt_index, cfg_scale, mask_id)[0]


def _forward(model, x, attention_mask, prompt_index, cfg_scale, mask_id, **kwargs):
    """The one model call of model_logits and generate(); returns the logits and the model's output. With
    cfg_scale > 0 the unconditional canvas (x with the positions of prompt_index, bool like x, masked) runs in
    the same call as x, as a batch of 2b rows (with a KV cache each half has its own cache rows), and the two
    halves' logits are combined."""
    guided = cfg_scale > 0
    if guided:
        unconditional = x.clone()
        unconditional[prompt_index] = mask_id
        x = torch.cat([x, unconditional])
        attention_mask = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
    out = model(x, attention_mask=attention_mask, **kwargs)
    if not guided:
        return out.logits, out
    conditional_logits, unconditional_logits = out.logits.chunk(2)
    return unconditional_logits + (cfg_scale + 1) * (conditional_logits - unconditional_logits), out




CACHE_MODES = (None, "prefix", "dual")


def _check_fast_options(cache, threshold, factor, early_exit, logits_eos_inf):
    if cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}")
    if threshold is not None and factor is not None:
        raise ValueError("give threshold or factor, not both (they are two rules for the same choice)")
    if threshold is not None and not 0 <= threshold <= 1:  # NaN fails this too
        raise ValueError(f"threshold is a probability in [0, 1], got {threshold}")
    if factor is not None and not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a finite number > 0, got {factor}")
    if early_exit and logits_eos_inf:
        raise ValueError("early_exit waits for EOS, which logits_eos_inf forbids; use one of them")


def parse_fast_options(cache=None, threshold=None, factor=None, early_exit=False, block_logits=None):
    """generate()'s fast options as a harness's arguments or a config file give them, where any may be a string
    ('dual', '0.9', 'true', 'none'): returns them typed, as keyword arguments of generate(), or raises a one-line
    ValueError naming the option. Their ranges are checked by check_sampling_options. All left out is the
    reference sampler."""
    def absent(value):
        return value is None or isinstance(value, str) and value.strip().lower() in ("", "none")

    def number(name, value):
        if absent(value):
            return None
        try:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number (or none), got {value!r}") from None

    def flag(name, value, default):
        if absent(value):
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return text in ("true", "1")

    if not absent(cache) and cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}")
    return dict(cache=None if absent(cache) else cache, threshold=number("threshold", threshold),
                factor=number("factor", factor), early_exit=flag("early_exit", early_exit, False),
                block_logits=flag("block_logits", block_logits, None))


def select_parallel(confidence, remaining_steps, threshold=None, factor=None):
    """Parallel decoding: bool mask of the positions to commit in each row, as many as the rule allows.

    confidence: (b, R) with -inf where nothing may be committed. threshold: every candidate whose confidence
    exceeds it. factor (Fast-dLLM's factor rule): the n most confident, n the largest with
    (n + 1) * (1 - c_n) < factor where c_n is the n-th highest confidence. Each row commits at least
    ceil(candidates / remaining_steps) positions (at least one), so a block never needs more than the
    steps it was given."""
    candidates = torch.isfinite(confidence).sum(dim=1)
    at_least = (candidates + remaining_steps - 1) // remaining_steps
    ordered = torch.sort(confidence, dim=-1, descending=True).values
    if threshold is not None:
        chosen = (ordered > threshold).sum(dim=1)
    else:
        n = torch.arange(1, confidence.shape[1] + 1, device=confidence.device, dtype=ordered.dtype)
        chosen = ((n + 1) * (1 - ordered) < factor).sum(dim=1)
    return select_top_k(confidence, torch.minimum(torch.maximum(chosen, at_least), candidates))


class _Sampling(NamedTuple):
    """generate()'s options as its step helpers read them, fixed for the call."""
    mask_id: int
    eos_id: int
    eot_id: int
    temperature: float
    cfg_scale: float
    remasking: str
    logits_eos_inf: bool
    confidence_eos_eot_inf: bool
    cache: Optional[str]
    threshold: Optional[float]
    factor: Optional[float]
    block_length: int
    steps_per_block: int
    prompt_len: int
    total: int  # prompt_len + gen_length
    adaptive: bool  # threshold or factor: a block ends once it has no mask left
    narrow: bool  # the step decides in its block only (block_logits or a cache), not on the whole canvas


class _Where(NamedTuple):
    """Where one step works: its block spans start..end of the canvas, its logits and decision cover lo..hi (the
    block when narrow, else the whole canvas); i counts the block's steps, step all of them; check_exit: an
    early-exit check is due (the first step of every block after the first)."""
    step: int
    block: int
    i: int
    start: int
    end: int
    lo: int
    hi: int
    check_exit: bool


class _KVCache:
    """generate()'s KV cache: the model's cache of the current block (past) and the rows it holds (bool (b,))."""
    past = None
    rows = None


@torch.no_grad()
def generate(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
             cfg_scale=0., remasking='low_confidence', mask_id=126336, logits_eos_inf=False,
             confidence_eos_eot_inf=False, eos_id=126081, eot_id=126348,
             constraints: Optional[dict] = None, callback: Optional[Callable[[StepState], None]] = None,
             cache: Optional[str] = None, threshold: Optional[float] = None, factor: Optional[float] = None,
             block_logits: Optional[bool] = None, early_exit: bool = False, stats: Optional[dict] = None):
    """Sample answers of gen_length tokens after `prompt` (LongTensor (b, prompt_len)).

    attention_mask: (b, prompt_len), 0 at left padding; it is extended over the answer and passed to every
    forward call. temperature: 0 = greedy, > 0 = Gumbel-max sampling. cfg_scale: unsupervised
    classifier-free guidance. remasking: 'low_confidence' or 'random'. logits_eos_inf: forbid EOS.
    confidence_eos_eot_inf (paper App. B.4): after the predictions are chosen, EOS and EoT leave the softmax,
    so a position predicting either gets confidence 0 (committed last in its block) and every other position's
    confidence is its probability renormalised without them. At temperature 0 this is the reference's
    computation token for token; the same rule holds at temperature > 0, in the fast modes and, with random
    remasking, EOS/EoT predictions go last. eos_id / eot_id: the tokenizer's EOS and EoT ids (defaults: LLaDA-8B's).
    constraints: {answer position: token id} pinned for the whole sampling. callback: called with a StepState after
    each step.
    stats: a dict the call adds its counts to: 'forward_calls' (model calls) and 'row_forwards' (the rows of
    those calls summed: forward passes of single answers, a CFG pair counting once).

    Finished rows leave the batch: each model call runs only the rows that can still commit a token at that
    step (a mask left where the step decides; at an early-exit check, in the rest of the answer), so a row whose
    answer is complete, or whose block is done while its neighbours' are not (threshold / factor), costs
    nothing. Each row's logits do not depend on the other rows and a row without such a mask keeps its tokens,
    so every row gets the tokens of the full batch (at temperature 0; sampling draws its noise for the rows
    that run). With the reference's schedule every row runs every step.

    Fast sampling (all off by default; the defaults reproduce the reference sampler token for token):
    cache: None, 'prefix' or 'dual' (Fast-dLLM's approximate block-wise KV cache). At the first step of each
      block the whole canvas runs once and its keys/values are cached; the following steps of the block run
      only the block and the masked suffix ('prefix': the prompt and finished blocks come from the cache) or
      only the block ('dual': the suffix comes from the cache too). The model must take past_key_values,
      use_cache, cache_position and logits_to_keep as LLaDAModelLM does, and its cache must have
      batch_select_indices (as LLaDACache and transformers' caches) for rows that leave within a block.
      Approximate: cached entries are those of the block's first step.
    threshold: parallel decoding; each step commits every masked position of the block whose confidence
      exceeds it. factor: the factor rule instead (see select_parallel). With either, a block ends as soon as
      it has no mask left, and `steps` becomes an upper bound (each step commits at least enough positions to
      finish the block within its steps / num_blocks steps; steps = gen_length means at least one).
    block_logits: run the lm head only on the active block (exact; default: on when cache is set). The model
      must take logits_to_keep. Only the answer is decoded then: mask tokens inside the prompt stay.
    early_exit: at the start of each block after the first, rows whose answer already holds EOS or EoT and
      whose predictions for every remaining masked position are EOS get EOS there and stop; the call returns
      once every row has stopped. Exact whenever the remaining steps would have decoded EOS everywhere.
    Exactness holds at temperature 0; with sampling, the fast paths draw their noise on fewer positions. With
    threshold or factor the mask token itself is never predicted (so every block ends fully decoded).

    Returns the canvas (b, prompt_len + gen_length): the prompt followed by the answer.
    """
    num_blocks = _check_arguments(model, prompt, attention_mask, steps, gen_length, block_length, temperature,
                                  cfg_scale, remasking, mask_id,
                                  {eos_id, eot_id} if logits_eos_inf or confidence_eos_eot_inf else set(),
                                  dict(cache=cache, threshold=threshold, factor=factor, early_exit=early_exit,
                                       logits_eos_inf=logits_eos_inf))
    if block_logits is None:
        block_logits = cache is not None
    prompt_len = prompt.shape[1]
    s = _Sampling(mask_id, eos_id, eot_id, temperature, cfg_scale, remasking, logits_eos_inf, confidence_eos_eot_inf,
                  cache, threshold, factor, block_length, steps // num_blocks, prompt_len, prompt_len + gen_length,
                  adaptive=threshold is not None or factor is not None, narrow=block_logits or cache is not None)
    x, attention_mask, prompt_index = _canvas(model, prompt, attention_mask, gen_length, mask_id, constraints)
    done = torch.zeros(len(x), dtype=torch.bool, device=x.device)  # the rows stopped by early exit
    kv = _KVCache()
    step = 0
    for block in range(num_blocks):
        start = prompt_len + block * block_length
        end = start + block_length
        for i in range(s.steps_per_block):
            if s.adaptive and not (x[:, start:end] == mask_id).any():
                break
            w = _Where(step, block, i, start, end, *((start, end) if s.narrow else (0, s.total)),
                       check_exit=early_exit and block > 0 and i == 0)
            step += 1
            # 0. The rows of this step; xa is x itself when every row runs, else a copy written back after step 4.
            active, rows = _step_rows(s, w, x, stats)
            if rows is None:  # more steps than masks: this step has nothing to decide in any row
                _emit(callback, w, x)
                continue
            subset = not isinstance(rows, slice)
            xa = x[rows]
            # 1. Logits for the positions lo..lo+logits.shape[1] of the canvas, from one model call (CFG included).
            logits = _step_logits(model, s, w, xa, None if attention_mask is None else attention_mask[rows],
                                  prompt_index[rows], active, kv)
            # 2. Early exit: rows that have produced EOS/EoT and predict EOS at every remaining mask.
            if w.check_exit and _early_exit(s, w, x, xa, rows, logits, done):
                return x
            if i == 0 and not s.adaptive:  # the linear schedule of the block, for the masks left after step 2
                schedule = get_num_transfer_tokens(x[:, start:end] == mask_id, s.steps_per_block)
            # 3. Predictions and confidences over the region the decision looks at.
            region = xa[:, w.lo:w.hi]
            x0, x0_p, confidence = _choose(s, logits[:, :w.hi - w.lo], region, end - w.lo)
            # 4. Commit.
            committed = _commit(s, i, confidence, None if s.adaptive else schedule[rows, i])
            region[committed] = x0[committed]
            if subset:
                x[rows] = xa
            _emit(callback, w, x, rows, subset or s.narrow, committed, x0_p)  # 5. The step's state.
    return x


def _canvas(model, prompt, attention_mask, gen_length, mask_id, constraints):
    """The starting canvas (the prompt, then gen_length masks with the constraints' tokens in place: being no
    masks, they are never decided), the attention mask extended over the answer, and prompt_index (bool like the
    canvas, True on the prompt)."""
    batch, prompt_len = prompt.shape
    x = torch.full((batch, prompt_len + gen_length), mask_id, dtype=torch.long, device=model.device)
    x[:, :prompt_len] = prompt.to(model.device)
    for position, token_id in (constraints or {}).items():
        if not 0 <= position < gen_length:
            raise ValueError(f"constraint position {position} is outside the answer (0..{gen_length - 1})")
        x[:, prompt_len + position] = token_id
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask.to(model.device),
                                    torch.ones(batch, gen_length, dtype=attention_mask.dtype, device=model.device)],
                                   dim=1)
    prompt_index = torch.zeros_like(x, dtype=torch.bool)
    prompt_index[:, :prompt_len] = True
    return x, attention_mask, prompt_index


def _step_rows(s, w, x, stats):
    """Step 0: the rows with a mask where this step may commit (before the block's end; at an early-exit check,
    anywhere from lo on), as active (bool (b,)) and rows, which indexes x: slice(None) when every row is active,
    else the active rows' indices; rows is None when no row is. Counts the step's model call in stats."""
    active = (x[:, w.lo:s.total if w.check_exit else w.end] == s.mask_id).any(dim=1)
    if not active.any():
        return active, None
    rows = slice(None) if active.all() else active.nonzero().squeeze(1)
    if stats is not None:
        stats["forward_calls"] = stats.get("forward_calls", 0) + 1
        stats["row_forwards"] = stats.get("row_forwards", 0) + int(active.sum())
    return active, rows


def _step_logits(model, s, w, xa, attention_mask, prompt_index, active, kv):
    """Step 1: the logits of the rows xa (active: which rows of the canvas they are) for the canvas positions
    lo.. (to hi, or to the answer's end at an early-exit check), from one model call with CFG; the tokens the
    step may not choose get -inf. With a cache the block's first step runs the whole canvas and refills kv."""
    if not s.narrow:
        logits, _ = _forward(model, xa, attention_mask, prompt_index, s.cfg_scale, s.mask_id)
    elif s.cache is not None and w.i > 0:
        logits = _cached_logits(model, s, w, xa, attention_mask, prompt_index, active, kv)
    else:  # the whole canvas, the lm head on the block (and on the rest of the answer at an early-exit check)
        refill = {}
        if s.cache is not None:  # refill the cache; the previous block's goes before the new one is made
            kv.past, refill = None, dict(use_cache=True)
        logits, out = _forward(model, xa, attention_mask, prompt_index, s.cfg_scale, s.mask_id,
                               logits_to_keep=slice(w.start, s.total if w.check_exit else w.end), **refill)
        if s.cache is not None:
            kv.past, kv.rows = _returned_cache(out), active
    if s.logits_eos_inf:
        logits[:, :, s.eos_id] = -torch.inf
    if s.adaptive and s.mask_id < logits.shape[-1]:
        logits[:, :, s.mask_id] = -torch.inf  # a committed mask token would leave the block unfinished
    return logits


def _cached_logits(model, s, w, xa, attention_mask, prompt_index, active, kv):
    """The logits of a block's later steps with a cache: only the block and the rest of the answer run ('prefix')
    or only the block ('dual'), against the cache of the block's first step (whose CFG half holds the
    unconditional prompt; the part that runs holds no prompt position). Rows that left the batch since leave the
    cache too."""
    if not torch.equal(active, kv.rows):
        kept = active[kv.rows].nonzero().squeeze(1)
        kv.past.batch_select_indices(torch.cat([kept, kept + int(kv.rows.sum())]) if s.cfg_scale > 0 else kept)
        kv.rows = active
    end = s.total if s.cache == "prefix" else w.end
    logits, out = _forward(model, xa[:, w.start:end], attention_mask, prompt_index[:, w.start:end], s.cfg_scale,
                           s.mask_id, past_key_values=kv.past, use_cache=True,
                           cache_position=torch.arange(w.start, end, device=xa.device),
                           logits_to_keep=slice(0, s.block_length))
    kv.past = _returned_cache(out)
    return logits


def _returned_cache(out):
    return out.cache if hasattr(out, "cache") else out.past_key_values  # `cache` in recent transformers


def _early_exit(s, w, x, xa, rows, logits, done):
    """Step 2: rows of xa whose answer already holds EOS or EoT and whose predictions for every remaining masked
    position are EOS get EOS there, in x too, and are done (bool (b,)). True once every row is done."""
    rest = xa[:, w.start:]
    rest_masked = rest == s.mask_id
    predicted_eos = logits[:, w.start - w.lo:].argmax(dim=-1) == s.eos_id
    answer = xa[:, s.prompt_len:w.start]
    finished = ((answer == s.eos_id) | (answer == s.eot_id)).any(dim=1)
    finished &= (predicted_eos | ~rest_masked).all(dim=1) & ~done[rows]
    if finished.any():
        rest[finished[:, None] & rest_masked] = s.eos_id
        x[rows] = xa
        done[rows] |= finished
    return bool(done.all())


def _choose(s, logits, region, decide_end):
    """Step 3: the prediction x0 of each position of the region (its tokens; logits (b, R, V)) and its
    confidence. Returns x0 (the region's own token where it is not masked), x0_p (every prediction's
    confidence, -inf from decide_end on, past the block) and the confidence of the masked positions (-inf
    elsewhere)."""
    x0 = torch.argmax(add_gumbel_noise(logits, s.temperature), dim=-1)
    if s.confidence_eos_eot_inf:
        # EOS and EoT leave the softmax once x0 is chosen: their predictions get confidence 0 (committed
        # last, yet before -inf, so the block still ends fully decoded) and every other prediction gets
        # p(x0) / (1 - p(EOS) - p(EoT)), which can reorder positions whose runner-up is EOS.
        logits[:, :, s.eos_id] = -torch.inf
        logits[:, :, s.eot_id] = -torch.inf
    if s.remasking == "low_confidence":
        # in the logits' dtype, as the reference does (bf16 on a GPU: ties at that resolution go to the
        # leftmost position)
        probabilities = F.softmax(logits, dim=-1)
        x0_p = torch.gather(probabilities, -1, x0[..., None]).squeeze(-1)
    else:
        x0_p = torch.rand(x0.shape, device=x0.device)
        if s.confidence_eos_eot_inf:
            x0_p = torch.where((x0 == s.eos_id) | (x0 == s.eot_id), 0., x0_p)
    x0_p[:, decide_end:] = -torch.inf
    mask_index = region == s.mask_id
    return torch.where(mask_index, x0, region), x0_p, torch.where(mask_index, x0_p, -torch.inf)


def _commit(s, i, confidence, scheduled):
    """Step 4: bool mask of the positions that take their prediction at the block's step i: the scheduled[row]
    most confident (the linear schedule), or with threshold / factor as many as that rule allows."""
    if s.adaptive:
        return select_parallel(confidence, s.steps_per_block - i, s.threshold, s.factor)
    return select_top_k(confidence, scheduled)


def _emit(callback, w, x, rows=None, partial=False, committed=None, confidence=None):
    """Step 5: the step's StepState to the callback. committed and confidence cover the rows `rows` of x over lo..hi,
    all of x unless partial; elsewhere (rows that sat the step out, positions outside lo..hi, a step with no
    rows at all) nothing was committed and the confidence is -inf."""
    if callback is None:
        return
    if rows is not None and not partial:
        callback(StepState(w.step, w.block, x, committed, confidence))
        return
    dtype = torch.get_default_dtype() if confidence is None else confidence.dtype
    full_committed = torch.zeros_like(x, dtype=torch.bool)
    full_confidence = torch.full(x.shape, -torch.inf, dtype=dtype, device=x.device)
    if rows is not None:
        full_committed[rows, w.lo:w.hi] = committed
        full_confidence[rows, w.lo:w.hi] = confidence
    callback(StepState(w.step, w.block, x, full_committed, full_confidence))


def main():
    parser = argparse.ArgumentParser(description="Answer prompts in one left-padded batch (default: the reference's "
                                                 "three word problems).")
    parser.add_argument("prompts", nargs="*", help="questions (default: three word problems)")
    parser.add_argument("--raw", action="store_true", help="continue the prompts as plain text, no chat template")
    parser.add_argument("--model", default=None, help="HF id or local path (default: the bundled tiny model)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the first available)")
    parser.add_argument("--adapter", default=None,
                        help="a LoRA adapter directory (train.py --lora_r), merged into --model (default: its base)")
    parser.add_argument("--gen_length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--block_length", type=int, default=32)
    parser.add_argument("--temperature", type=finite_float, default=0.)
    parser.add_argument("--cfg_scale", type=finite_float, default=0.)
    parser.add_argument("--remasking", choices=REMASKING, default="low_confidence")
    parser.add_argument("--cache", choices=("prefix", "dual"), default=None, help="approximate KV cache")
    parser.add_argument("--threshold", type=finite_float, default=None, help="parallel decoding: confidence threshold")
    parser.add_argument("--factor", type=finite_float, default=None, help="parallel decoding: Fast-dLLM's factor rule")
    parser.add_argument("--early_exit", action="store_true", help="stop once the rest of the answer is EOS")
    from modeling_llada import add_loading_args, check_user_text, load_for_script, loading_options  # the project's
    from prompting import encode_chat, left_pad, special_ids
    args = add_loading_args(parser).parse_args()

    model, tokenizer = load_for_script(parser, args.model, device=args.device, adapter=args.adapter,
                                       **loading_options(args))
    questions = args.prompts or [
        "Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. "
        "How many kilometers can she run in 8 hours?",
        "Joy can read 8 pages of a book in 20 minutes. How many hours will it take her to read 120 pages?",
        "Randy has 60 mango trees on his farm. He also has 5 less than half as many coconut trees as mango "
        "trees. How many trees does Randy have in all on his farm?",
    ]
    try:
        for question in questions:
            check_user_text(tokenizer, question)
    except ValueError as error:
        parser.error(str(error))
    ids = special_ids(model, tokenizer)
    prompt, attention = left_pad([tokenizer(q, add_special_tokens=False)["input_ids"] if args.raw
                                  else encode_chat(tokenizer, q) for q in questions], ids.pad)
    try:
        out = generate(model, prompt, attention_mask=attention, steps=args.steps,
                       gen_length=args.gen_length, block_length=args.block_length, temperature=args.temperature,
                       cfg_scale=args.cfg_scale, remasking=args.remasking, mask_id=ids.mask, eos_id=ids.eos,
                       eot_id=ids.eot, cache=args.cache, threshold=args.threshold, factor=args.factor,
                       early_exit=args.early_exit)
    except ValueError as error:
        parser.error(str(error))
    answers = tokenizer.batch_decode(out[:, prompt.shape[1]:], skip_special_tokens=True)
    for question, answer in zip(questions, answers):
        print(f"Q: {question}\nA: {answer.strip()}\n" + "-" * 60)


if __name__ == "__main__":
    main()
