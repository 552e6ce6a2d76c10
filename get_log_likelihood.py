"""get_log_likelihood(): a Monte Carlo estimate of log p(answer | prompt) under a LLaDA mask predictor.

The estimate is the negative diffusion loss, a lower bound on the log-likelihood. Each round masks a
batch of copies of prompt + answer; the mask counts are stratified over the batch (copy i masks
round(k + i*T/b) of the T answer tokens, wrapped into 1..T, for one k drawn uniformly from 1..T), the
masked positions are uniform at random, and the prompt is never masked. Each masked token's cross entropy
is weighted by 1/(masked fraction of its copy).

batched_log_likelihood() is the one implementation: it estimates many prompt + answer rows (right-padded, with an
attention mask and per-row prompt lengths), packing their rounds into model calls; get_log_likelihood() is its call
for one prompt, and the lm-eval harness (eval_llada.py) and the OpenCompass wrapper use it too.

Run `python get_log_likelihood.py` for an example that ranks candidate answers.
"""

import argparse
import math

import torch
import torch.nn.functional as F

from generate import check_length, finite_float, model_logits


def forward_process(batch, prompt_length, mask_id):
    """Mask answer tokens of each row of `batch` (b, L) with stratified counts.
    Returns (noisy batch, masked fraction per row (b, 1))."""
    b, length = batch.shape
    target_len = length - prompt_length
    k = torch.randint(1, target_len + 1, (), device=batch.device)
    counts = torch.round(torch.linspace(float(k), k + (b - 1) * (target_len / b), steps=b, device=batch.device))
    counts = ((counts.long() - 1) % target_len) + 1
    # A uniformly random subset of `count` answer positions per row: the positions with the smallest keys.
    random_ranks = torch.rand(b, target_len, device=batch.device).argsort(dim=1).argsort(dim=1)
    is_mask = random_ranks < counts[:, None]
    is_mask = torch.cat([torch.zeros(b, prompt_length, dtype=torch.bool, device=batch.device), is_mask], dim=1)
    noisy = torch.where(is_mask, mask_id, batch)
    return noisy, (counts.float() / target_len)[:, None]


def _round_losses(model, rounds, cfg_scale, mask_id):
    """One model call over Monte Carlo rounds packed row-wise; each round's loss: the sum over its masked tokens of
    cross entropy / masked fraction of the token's copy, over the round's number of copies.
    rounds: list of (noisy (b, L), clean (b, L), masked fraction (b, 1), attention (b, L) or None, prompt length)."""
    noisy = torch.cat([r[0] for r in rounds])
    attention = None if rounds[0][3] is None else torch.cat([r[3] for r in rounds])
    positions = torch.arange(noisy.shape[1], device=noisy.device)
    prompt_index = torch.cat([(positions < r[4]).expand_as(r[0]) for r in rounds])
    logits = model_logits(model, noisy, attention, prompt_index, cfg_scale, mask_id)
    losses, start = [], 0
    for round_noisy, clean, masked_fraction, _, _ in rounds:
        block, start = slice(start, start + len(round_noisy)), start + len(round_noisy)
        mask_index = round_noisy == mask_id
        token_loss = F.cross_entropy(logits[block][mask_index].float(), clean[mask_index], reduction="none")
        weights = masked_fraction.expand_as(mask_index)[mask_index]
        losses.append((token_loss / weights).sum().item() / len(round_noisy))
    return losses


@torch.no_grad()
def batched_log_likelihood(model, rows, prompt_lengths, attention_mask=None, seeds=None, mc_num=128, batch_size=16,
                           cfg_scale=0., mask_id=126336, forward_batch=None, progress=None):
    """Estimate log p(answer | prompt) for each row of `rows` (n, L): a prompt's and its answer's token ids,
    right-padded to L; prompt_lengths: n ints; attention_mask (n, L): 1 on each row's tokens, 0 on its padding (None:
    no padding, and the model is called without a mask).

    Each row gets mc_num/batch_size rounds of forward_process (after torch.manual_seed(seeds[i]) when seeds are given,
    so a row's estimate does not depend on the other rows); the rounds are packed into model calls of forward_batch
    rows (whole rounds, default one round a call), padding kept out of attention. progress: anything with update(n),
    told of each row whose rounds are drawn. Returns n floats."""
    lengths = [rows.shape[1]] * len(rows) if attention_mask is None else attention_mask.sum(1).tolist()
    if any(length <= prompt for length, prompt in zip(lengths, prompt_lengths)):
        raise ValueError("answer is empty; its log-likelihood is undefined")
    if mc_num <= 0 or batch_size <= 0 or mc_num % batch_size:
        raise ValueError(f"mc_num={mc_num} must be a positive multiple of batch_size={batch_size}")
    if not math.isfinite(cfg_scale) or cfg_scale < 0:
        raise ValueError(f"cfg_scale must be finite and >= 0 (got {cfg_scale})")
    for length, prompt in zip(lengths, prompt_lengths):
        check_length(model, prompt, length - prompt)
    rows = rows.to(model.device)
    attention_mask = None if attention_mask is None else attention_mask.to(model.device)
    per_call = max(1, (forward_batch or batch_size) // batch_size)
    losses, pending, owners = [[] for _ in lengths], [], []

    def flush():
        for owner, loss in zip(owners, _round_losses(model, pending, cfg_scale, mask_id)):
            losses[owner].append(loss)
        pending.clear()
        owners.clear()

    for i, (length, prompt) in enumerate(zip(lengths, prompt_lengths)):
        if seeds is not None:
            torch.manual_seed(seeds[i])
        clean = rows[i][None].repeat(batch_size, 1)
        attention = None if attention_mask is None else attention_mask[i][None].repeat(batch_size, 1)
        for _ in range(mc_num // batch_size):
            noisy, masked_fraction = forward_process(clean[:, :length], prompt, mask_id)
            pending.append((torch.cat([noisy, clean[:, length:]], dim=1), clean, masked_fraction, attention, prompt))
            owners.append(i)
            if len(pending) == per_call:
                flush()
        if progress is not None:
            progress.update(1)
    if pending:
        flush()
    return [-sum(row_losses) / len(row_losses) for row_losses in losses]


def get_log_likelihood(model, prompt, answer, mc_num=128, batch_size=16, cfg_scale=0., mask_id=126336):
    """Estimate log p(answer | prompt). prompt, answer: 1-D LongTensors of token ids.

    mc_num: masked samples in all (mc_num/batch_size forward rounds; 1 suffices for one-token answers).
    cfg_scale: unsupervised classifier-free guidance, as in generate()."""
    if prompt.dim() != 1 or answer.dim() != 1:
        raise ValueError("prompt and answer must be 1-D tensors of token ids (one sequence each)")
    (estimate,) = batched_log_likelihood(model, torch.cat([prompt, answer])[None], [len(prompt)], mc_num=mc_num,
                                         batch_size=batch_size, cfg_scale=cfg_scale, mask_id=mask_id)
    return estimate


def main():
    parser = argparse.ArgumentParser(description="Rank candidate answers to a question by estimated likelihood.")
    parser.add_argument("--model", default=None, help="HF id or local path (default: the bundled tiny model)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--question", default="What is 23 + 45?")
    parser.add_argument("--answers", nargs="+", default=["3 + 5 = 8. 2 + 4 = 6. 23 + 45 = 68.",
                                                         "3 + 5 = 8. 2 + 4 = 6. 23 + 45 = 78.",
                                                         "To be, or not to be."])
    parser.add_argument("--mc_num", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--cfg_scale", type=finite_float, default=0.)
    from modeling_llada import add_loading_args, load_for_script, loading_options
    from prompting import encode_chat, special_ids
    args = add_loading_args(parser).parse_args()

    model, tokenizer = load_for_script(parser, args.model, device=args.device, **loading_options(args))
    prompt = torch.tensor(encode_chat(tokenizer, args.question))
    mask_id = special_ids(model, tokenizer).mask
    print(f"Q: {args.question}")
    for answer_text in args.answers:
        answer = torch.tensor(tokenizer(answer_text, add_special_tokens=False)["input_ids"])
        try:
            score = get_log_likelihood(model, prompt, answer, mc_num=args.mc_num, batch_size=args.batch_size,
                                       cfg_scale=args.cfg_scale, mask_id=mask_id)
        except ValueError as error:
            parser.error(str(error))
        print(f"{score:10.2f}  {answer_text}")


if __name__ == "__main__":
    main()
