"""generate(): sampling from a LLaDA mask predictor by iterative unmasking.

This file imports only torch (plus the standard library) so that `generate` can be copied into other
code. It needs only a model whose call `model(x, attention_mask=...)` returns an object with `.logits`
(b, L, V) and which has `.device`.

The answer starts as `gen_length` mask tokens after the prompt. It is split into blocks decoded left to
right (block_length < gen_length is the paper's semi-autoregressive remasking); each block gets an equal
share of the steps, and at every step the most confident masked positions of the current block take
their predictions while the rest stay masked.

Run `python generate.py` for the reference example: three word problems in one left-padded batch.
"""

import argparse
from typing import Callable, NamedTuple, Optional

import torch
import torch.nn.functional as F

REMASKING = ("low_confidence", "random")


class StepState(NamedTuple):
    """What a per-step callback sees after each denoising step.

    x: the canvas (b, prompt_len + gen_length) after this step's commits; committed: bool (b, L), the
    positions committed at this step; confidence: (b, L) float, the confidence each position's prediction
    had at this step; step: 0-based index over all steps; block: 0-based block index."""
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


def _check_arguments(model, prompt, attention_mask, steps, gen_length, block_length, temperature, cfg_scale,
                     remasking, mask_id):
    if prompt.dim() != 2:
        raise ValueError(f"prompt must be a (batch, length) tensor of token ids, got shape {tuple(prompt.shape)}")
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
    if temperature < 0 or cfg_scale < 0:
        raise ValueError(f"temperature and cfg_scale must be >= 0 (got {temperature}, {cfg_scale})")
    if attention_mask is not None:
        if attention_mask.shape != prompt.shape:
            raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} must equal the prompt's "
                             f"{tuple(prompt.shape)}")
        if (prompt[attention_mask == 0] == mask_id).any():
            raise ValueError("the padding uses the mask token id; pad with another token (EOS, as LLaDA does)")
    max_length = getattr(getattr(model, "config", None), "max_sequence_length", None)
    if max_length is not None and prompt.shape[1] + gen_length > max_length:
        raise ValueError(f"prompt length {prompt.shape[1]} + gen_length {gen_length} exceeds the model's "
                         f"max_sequence_length {max_length}; shorten the prompt or gen_length")
    return num_blocks


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


@torch.no_grad()
def generate(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
             cfg_scale=0., remasking='low_confidence', mask_id=126336, logits_eos_inf=False,
             confidence_eos_eot_inf=False, eos_id=126081, eot_id=126348,
             constraints: Optional[dict] = None, callback: Optional[Callable[[StepState], None]] = None):
    """Sample answers of gen_length tokens after `prompt` (LongTensor (b, prompt_len)).

    attention_mask: (b, prompt_len), 0 at left padding; it is extended over the answer and passed to every
    forward call. temperature: 0 = greedy, > 0 = Gumbel-max sampling. cfg_scale: unsupervised
    classifier-free guidance. remasking: 'low_confidence' or 'random'. logits_eos_inf: forbid EOS.
    confidence_eos_eot_inf: positions predicting EOS or EoT are committed last in their block (paper App.
    B.4). eos_id / eot_id: the tokenizer's EOS and EoT ids (defaults: LLaDA-8B's). constraints: {answer
    position: token id} pinned for the whole sampling. callback: called with a StepState after each step.

    Returns the canvas (b, prompt_len + gen_length): the prompt followed by the answer.
    """
    num_blocks = _check_arguments(model, prompt, attention_mask, steps, gen_length, block_length, temperature,
                                  cfg_scale, remasking, mask_id)
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
    steps_per_block = steps // num_blocks
    step = 0
    for block in range(num_blocks):
        block_start = prompt_len + block * block_length
        block_end = block_start + block_length
        num_transfer_tokens = get_num_transfer_tokens(x[:, block_start:block_end] == mask_id, steps_per_block)
        for i in range(steps_per_block):
            mask_index = x == mask_id
            logits = model_logits(model, x, attention_mask, prompt_index, cfg_scale, mask_id)
            if logits_eos_inf:
                logits[:, :, eos_id] = -torch.inf
            x0 = torch.argmax(add_gumbel_noise(logits, temperature), dim=-1)
            if remasking == "low_confidence":
                probabilities = F.softmax(logits.float(), dim=-1)
                x0_p = torch.gather(probabilities, -1, x0[..., None]).squeeze(-1)
            else:
                x0_p = torch.rand(x0.shape, device=x0.device)
            if confidence_eos_eot_inf:
                # Below every other prediction (confidences lie in [0, 1]) but finite, so these positions still
                # get committed when nothing else is left in the block.
                x0_p = torch.where((x0 == eos_id) | (x0 == eot_id), x0_p - 2, x0_p)
            x0_p[:, block_end:] = -torch.inf
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, -torch.inf)
            committed = select_top_k(confidence, num_transfer_tokens[:, i])
            x[committed] = x0[committed]
            if callback is not None:
                callback(StepState(step, block, x, committed, x0_p))
            step += 1
    return x


def main():
    parser = argparse.ArgumentParser(description="Answer three word problems in one left-padded batch.")
    parser.add_argument("--model", default=None, help="HF id or local path (default: the bundled tiny model)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the first available)")
    parser.add_argument("--gen_length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--block_length", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.)
    parser.add_argument("--cfg_scale", type=float, default=0.)
    parser.add_argument("--remasking", choices=REMASKING, default="low_confidence")
    args = parser.parse_args()

    from modeling_llada import load_model_and_tokenizer  # the script needs the project; generate() does not
    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device)
    questions = [
        "Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. "
        "How many kilometers can she run in 8 hours?",
        "Joy can read 8 pages of a book in 20 minutes. How many hours will it take her to read 120 pages?",
        "Randy has 60 mango trees on his farm. He also has 5 less than half as many coconut trees as mango "
        "trees. How many trees does Randy have in all in his farm?",
    ]
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                             tokenize=False) for q in questions]
    tokenizer.padding_side = "left"
    encoded = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    try:
        out = generate(model, encoded["input_ids"], attention_mask=encoded["attention_mask"], steps=args.steps,
                       gen_length=args.gen_length, block_length=args.block_length, temperature=args.temperature,
                       cfg_scale=args.cfg_scale, remasking=args.remasking, mask_id=model.config.mask_token_id,
                       eos_id=tokenizer.eos_token_id, eot_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"))
    except ValueError as error:
        parser.error(str(error))
    answers = tokenizer.batch_decode(out[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
    for question, answer in zip(questions, answers):
        print(f"Q: {question}\nA: {answer.strip()}\n" + "-" * 60)


if __name__ == "__main__":
    main()
