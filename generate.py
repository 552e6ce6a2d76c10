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
    if cfg_scale > 0:
        unconditional = x.clone()
        unconditional[prompt_index] = mask_id
        both = torch.cat([x, unconditional])
        mask = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
        conditional_logits, unconditional_logits = model(both, attention_mask=mask).logits.chunk(2)
        return unconditional_logits + (cfg_scale + 1) * (conditional_logits - unconditional_logits)
    return model(x, attention_mask=attention_mask).logits


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


def _cached_forward(model, tokens, attention_mask, cfg_scale, unconditional, **kwargs):
    """One model call for the fast paths; with CFG the conditional and unconditional canvases go as one
    batch of 2b rows (each with its own cache rows) and the logits are combined."""
    if cfg_scale > 0:
        tokens = torch.cat([tokens, unconditional])
        attention_mask = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
    out = model(tokens, attention_mask=attention_mask, **kwargs)
    logits = out.logits
    if cfg_scale > 0:
        conditional_logits, unconditional_logits = logits.chunk(2)
        logits = unconditional_logits + (cfg_scale + 1) * (conditional_logits - unconditional_logits)
    if not kwargs.get("use_cache"):
        return logits, None
    if hasattr(out, "cache"):  # the field's name in recent transformers
        return logits, out.cache
    return logits, out.past_key_values


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
    fast_options = dict(cache=cache, threshold=threshold, factor=factor, early_exit=early_exit,
                        logits_eos_inf=logits_eos_inf)
    num_blocks = _check_arguments(model, prompt, attention_mask, steps, gen_length, block_length, temperature,
                                  cfg_scale, remasking, mask_id,
                                  {eos_id, eot_id} if logits_eos_inf or confidence_eos_eot_inf else set(),
                                  fast_options)
    if block_logits is None:
        block_logits = cache is not None
    adaptive = threshold is not None or factor is not None
    narrow = block_logits or cache is not None  # the decision looks at the block only, not the whole canvas
    batch, prompt_len = prompt.shape
    total = prompt_len + gen_length
    x = torch.full((batch, total), mask_id, dtype=torch.long, device=model.device)
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
    steps_per_block = steps // num_blocks
    done = torch.zeros(batch, dtype=torch.bool, device=x.device)
    kv = kv_active = None  # the cache and the rows it holds (bool (b,))
    step = 0
    for block in range(num_blocks):
        block_start = prompt_len + block * block_length
        block_end = block_start + block_length
        lo, hi = (block_start, block_end) if narrow else (0, total)  # logits and decision cover lo..hi
        i = 0
        while i < steps_per_block:
            if adaptive and not (x[:, block_start:block_end] == mask_id).any():
                break
            check_exit = early_exit and block > 0 and i == 0
            # 0. The rows of this step: those with a mask where it may commit (before block_end; at an early-exit
            #    check, anywhere from lo on). `rows` indexes x: all of it (xa is then x) or the active rows (a copy).
            active = (x[:, lo:total if check_exit else block_end] == mask_id).any(dim=1)
            if not active.any():  # more steps than masks: this step has nothing to decide in any row
                if callback is not None:
                    callback(StepState(step, block, x, torch.zeros_like(x, dtype=torch.bool),
                                       torch.full(x.shape, -torch.inf, device=x.device)))
                step += 1
                i += 1
                continue
            subset = not bool(active.all())
            rows = active.nonzero().squeeze(1) if subset else slice(None)
            xa = x[rows]
            mask_a = None if attention_mask is None else attention_mask[rows]
            if stats is not None:
                stats["forward_calls"] = stats.get("forward_calls", 0) + 1
                stats["row_forwards"] = stats.get("row_forwards", 0) + len(xa)
            # 1. Logits for the positions lo..lo+logits.shape[1] of the canvas.
            if not narrow:
                logits = model_logits(model, xa, mask_a, prompt_index[rows], cfg_scale, mask_id)
            else:
                keep = slice(block_start, total if check_exit else block_end)
                unconditional = None
                if cfg_scale > 0:
                    unconditional = xa.clone()
                    unconditional[:, :prompt_len] = mask_id
                if cache is None:
                    logits, _ = _cached_forward(model, xa, mask_a, cfg_scale, unconditional, logits_to_keep=keep)
                elif i == 0:  # refresh the whole cache at the block start
                    kv = None
                    logits, kv = _cached_forward(model, xa, mask_a, cfg_scale, unconditional,
                                                 use_cache=True, logits_to_keep=keep)
                    kv_active = active
                else:
                    if not torch.equal(active, kv_active):  # rows left the batch: drop their cache rows
                        kept = active[kv_active].nonzero().squeeze(1)
                        kv.batch_select_indices(torch.cat([kept, kept + int(kv_active.sum())])
                                                if cfg_scale > 0 else kept)
                        kv_active = active
                    end = total if cache == "prefix" else block_end
                    part = xa[:, block_start:end]
                    logits, kv = _cached_forward(
                        model, part, mask_a, cfg_scale, part, past_key_values=kv, use_cache=True,
                        cache_position=torch.arange(block_start, end, device=x.device),
                        logits_to_keep=slice(0, block_length))
            if logits_eos_inf:
                logits[:, :, eos_id] = -torch.inf
            if adaptive and mask_id < logits.shape[-1]:
                logits[:, :, mask_id] = -torch.inf  # a committed mask token would leave the block unfinished
            # 2. Early exit: rows that have produced EOS/EoT and predict EOS at every remaining mask.
            if check_exit:
                rest = xa[:, block_start:]
                predicted_eos = logits[:, block_start - lo:].argmax(dim=-1) == eos_id
                rest_masked = rest == mask_id
                answer = xa[:, prompt_len:block_start]
                finished = ((answer == eos_id) | (answer == eot_id)).any(dim=1)
                finished &= (predicted_eos | ~rest_masked).all(dim=1) & ~done[rows]
                if finished.any():
                    rest[finished[:, None] & rest_masked] = eos_id
                    x[rows] = xa
                    done[rows] |= finished
                if done.all():
                    return x
            if i == 0 and not adaptive:
                num_transfer_tokens = get_num_transfer_tokens(x[:, block_start:block_end] == mask_id,
                                                              steps_per_block)
            # 3. Predictions and confidences over the region the decision looks at.
            logits = logits[:, :hi - lo]
            x0 = torch.argmax(add_gumbel_noise(logits, temperature), dim=-1)
            if confidence_eos_eot_inf:
                # EOS and EoT leave the softmax once x0 is chosen: their predictions get confidence 0 (committed
                # last, yet before -inf, so the block still ends fully decoded) and every other prediction gets
                # p(x0) / (1 - p(EOS) - p(EoT)), which can reorder positions whose runner-up is EOS.
                logits[:, :, eos_id] = -torch.inf
                logits[:, :, eot_id] = -torch.inf
            if remasking == "low_confidence":
                # in the logits' dtype, as the reference does (bf16 on a GPU: ties at that resolution go to the
                # leftmost position)
                probabilities = F.softmax(logits, dim=-1)
                x0_p = torch.gather(probabilities, -1, x0[..., None]).squeeze(-1)
            else:
                x0_p = torch.rand(x0.shape, device=x0.device)
                if confidence_eos_eot_inf:
                    x0_p = torch.where((x0 == eos_id) | (x0 == eot_id), 0., x0_p)
            x0_p[:, block_end - lo:] = -torch.inf
            region = xa[:, lo:hi]
            mask_index = region == mask_id
            x0 = torch.where(mask_index, x0, region)
            confidence = torch.where(mask_index, x0_p, -torch.inf)
            # 4. Commit.
            if adaptive:
                committed = select_parallel(confidence, steps_per_block - i, threshold, factor)
            else:
                committed = select_top_k(confidence, num_transfer_tokens[rows, i])
            region[committed] = x0[committed]
            if subset:
                x[rows] = xa
            if callback is not None:
                if not subset and not narrow:
                    full_committed, full_confidence = committed, x0_p
                else:  # rows that sat the step out and positions outside lo..hi: nothing committed, -inf
                    full_committed = torch.zeros_like(x, dtype=torch.bool)
                    full_committed[rows, lo:hi] = committed
                    full_confidence = torch.full(x.shape, -torch.inf, dtype=x0_p.dtype, device=x.device)
                    full_confidence[rows, lo:hi] = x0_p
                callback(StepState(step, block, x, full_committed, full_confidence))
            step += 1
            i += 1
    return x


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
