"""get_log_likelihood(): a Monte Carlo estimate of log p(answer | prompt) under a LLaDA mask predictor.

The estimate is the negative diffusion loss, a lower bound on the log-likelihood. Each round masks a
batch of copies of prompt + answer; the mask counts are stratified over the batch (copy i masks
round(k + i*T/b) of the T answer tokens, wrapped into 1..T, for one k drawn uniformly from 1..T), the
masked positions are uniform at random, and the prompt is never masked. Each masked token's cross entropy
is weighted by 1/(masked fraction of its copy).

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


@torch.no_grad()
def get_log_likelihood(model, prompt, answer, mc_num=128, batch_size=16, cfg_scale=0., mask_id=126336):
    """Estimate log p(answer | prompt). prompt, answer: 1-D LongTensors of token ids.

    mc_num: masked samples in all (mc_num/batch_size forward rounds; 1 suffices for one-token answers).
    cfg_scale: unsupervised classifier-free guidance, as in generate()."""
    if prompt.dim() != 1 or answer.dim() != 1:
        raise ValueError("prompt and answer must be 1-D tensors of token ids (one sequence each)")
    if answer.numel() == 0:
        raise ValueError("answer is empty; its log-likelihood is undefined")
    if mc_num <= 0 or batch_size <= 0 or mc_num % batch_size:
        raise ValueError(f"mc_num={mc_num} must be a positive multiple of batch_size={batch_size}")
    if not math.isfinite(cfg_scale) or cfg_scale < 0:
        raise ValueError(f"cfg_scale must be finite and >= 0 (got {cfg_scale})")
    check_length(model, len(prompt), len(answer))
    sequence = torch.cat([prompt, answer]).to(model.device)[None].repeat(batch_size, 1)
    prompt_index = torch.zeros_like(sequence, dtype=torch.bool)
    prompt_index[:, :len(prompt)] = True
    losses = []
    for _ in range(mc_num // batch_size):
        noisy, masked_fraction = forward_process(sequence, len(prompt), mask_id)
        mask_index = noisy == mask_id
        logits = model_logits(model, noisy, None, prompt_index, cfg_scale, mask_id)
        token_loss = F.cross_entropy(logits[mask_index].float(), sequence[mask_index], reduction="none")
        weights = masked_fraction.expand_as(mask_index)[mask_index]
        losses.append((token_loss / weights).sum().item() / batch_size)
    return -sum(losses) / len(losses)


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
