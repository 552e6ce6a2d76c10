"""Pretrain or fine-tune (SFT) a LLaDA mask predictor, or its autoregressive twin.

Objectives (paper section 2, REFERENCE.md section 4):
- diffusion pretraining: t ~ U(0, 1) per sequence, p = (1 - eps) t + eps, every token masked with
  probability p; loss = sum over masked tokens of CE / p, divided by batch * seq_len. 1% of batches are
  cut to a random length in 1..seq_len.
- diffusion SFT: the same, but prompt tokens are never masked; answers are padded with EOS to the batch
  length (the padding is part of the answer: it is how the model learns to stop) and each sequence's loss
  is divided by its answer length, padding included, then averaged over the batch.
- ar: the same network with causal attention and next-token cross entropy (on the answer for SFT), for
  experiments such as the reversal curse.
- replay (SFT, optional): every --replay_every-th step is a pretraining batch from --replay_data instead,
  so fine-tuning does not erase what pretraining taught (plain-text continuation, memorised poems); its
  loss is scaled by --replay_weight.
- length grouping (SFT, optional): --group_by_length puts examples of similar length in one batch, so
  short answers are not padded to the batch's longest; --pad_to_multiple_of keeps an EOS run after each.
  Off by default: grouped widths leak answer lengths (GUIDELINES.md).

Data: jsonl with {"text": ...} per line for pretraining (packed into seq_len chunks) and
{"messages": [{"role", "content"}, ...]} for SFT (rendered with the tokenizer's chat template; the last
assistant message is the answer). Runs on one device or many through accelerate
(`accelerate launch train.py ...`); checkpoints are save_pretrained directories written atomically, and
--resume continues from the newest one with the same optimizer, scheduler, data position and RNG state.
See GUIDELINES.md for recipes.
"""

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from modeling_llada import LLaDAConfig, LLaDAModelLM, patch_tokenizer

EPS = 1e-3


# ----------------------------------------------------------------------------------------------- data

class BadDataError(ValueError):
    pass


def read_jsonl(path, stage, tokenizer, seq_len, on_bad_data):
    """Yield tokenised examples from a jsonl file, reporting bad lines with file and line number.
    pretrain: lists of ids (BOS text EOS); sft: (prompt ids, answer ids) pairs."""
    bad = 0
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                example = (pretrain_example if stage == "pretrain" else sft_example)(record, tokenizer, seq_len)
            except (json.JSONDecodeError, BadDataError) as error:
                message = f"{path}:{line_number}: {error}"
                if on_bad_data == "error":
                    raise BadDataError(f"{message} (fix the line, or pass --on_bad_data skip)") from None
                bad += 1
                print(f"skipping {message}", file=sys.stderr)
                continue
            yield example
    if bad:
        print(f"{path}: skipped {bad} bad lines", file=sys.stderr)


def pretrain_example(record, tokenizer, seq_len):
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise BadDataError('missing or empty "text" field')
    return [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def sft_example(record, tokenizer, seq_len):
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        raise BadDataError('missing "messages" list')
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) \
                or not isinstance(message.get("content"), str):
            raise BadDataError('every message needs string "role" and "content"')
    if messages[-1]["role"] != "assistant":
        raise BadDataError("the last message must be the assistant's answer")
    if not messages[-1]["content"].strip():
        raise BadDataError("empty answer")
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise BadDataError("the chat template does not render the answer after the prompt")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + len(answer_ids) > seq_len:
        raise BadDataError(f"{len(prompt_ids) + len(answer_ids)} tokens, longer than --seq_len {seq_len}")
    return prompt_ids, answer_ids


def load_dataset(path, stage, tokenizer, seq_len, on_bad_data):
    """Pretraining: one LongTensor (n_chunks, seq_len) of packed documents. SFT: a list of (prompt, answer)."""
    examples = read_jsonl(path, stage, tokenizer, seq_len, on_bad_data)
    if stage == "sft":
        return list(examples)
    stream = [token for example in examples for token in example]
    n_chunks = len(stream) // seq_len
    if n_chunks == 0:
        raise BadDataError(f"{path}: fewer than --seq_len {seq_len} tokens in all")
    return torch.tensor(stream[:n_chunks * seq_len]).view(n_chunks, seq_len)


def collate_sft(pairs, pad_id, multiple_of=1, max_width=None):
    """Right-pad prompt + answer with EOS to the batch length (rounded up to `multiple_of`, at most `max_width`
    unless an example is longer); the padding counts as answer."""
    longest = max(len(p) + len(a) for p, a in pairs)
    width = -(-longest // multiple_of) * multiple_of
    if max_width:
        width = max(longest, min(width, max_width))
    input_ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    prompt_lengths = torch.tensor([len(p) for p, _ in pairs])
    for row, (p, a) in enumerate(pairs):
        input_ids[row, :len(p) + len(a)] = torch.tensor(p + a)
    return input_ids, prompt_lengths


def batch_indices(num_examples, global_batch, step, seed, lengths=None):
    """The example indices of global step `step`: epoch-wise shuffles seeded by (seed, epoch), so the data
    position is a function of the step and resuming needs no iterator state. With `lengths` (a tensor of
    example lengths) the batches are grouped by length, see group_by_length."""
    per_epoch = num_examples // global_batch
    if per_epoch == 0:
        raise ValueError(f"the dataset has {num_examples} examples, fewer than one global batch of {global_batch}")
    epoch, offset = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(seed * 100003 + epoch)
    order = torch.randperm(num_examples, generator=generator)
    if lengths is not None:
        order = group_by_length(order[:per_epoch * global_batch], lengths, global_batch, generator)
    return order[offset * global_batch:(offset + 1) * global_batch]


def group_by_length(order, lengths, global_batch, generator, window_batches=64):
    """Reorder a shuffled epoch so each global batch holds examples of similar length: sort windows of
    `window_batches` batches by length, cut them into batches, shuffle the batches. SFT pads a batch to its
    longest example, so random batches of short arithmetic and long dialogues are mostly EOS padding, and the
    padding both costs compute and divides each answer's loss by its padded length."""
    windows = order.split(global_batch * window_batches)
    grouped = torch.cat([w[torch.argsort(lengths[w], descending=True, stable=True)] for w in windows])
    batches = grouped.view(-1, global_batch)
    return batches[torch.randperm(len(batches), generator=generator)].flatten()


# ----------------------------------------------------------------------------------------------- losses

def diffusion_loss(model, input_ids, prompt_lengths, mask_id, generator=None):
    """The masked diffusion loss. prompt_lengths is None for pretraining."""
    b, length = input_ids.shape
    device = input_ids.device
    t = torch.rand(b, device=device, generator=generator)
    p_mask = ((1 - EPS) * t + EPS)[:, None].expand(b, length)
    masked = torch.rand(b, length, device=device, generator=generator) < p_mask
    if prompt_lengths is not None:
        is_answer = torch.arange(length, device=device)[None, :] >= prompt_lengths[:, None]
        masked &= is_answer
    noisy = torch.where(masked, mask_id, input_ids)
    logits = model(noisy).logits
    token_loss = F.cross_entropy(logits[masked].float(), input_ids[masked], reduction="none") / p_mask[masked]
    if prompt_lengths is None:
        return token_loss.sum() / (b * length)
    answer_lengths = is_answer.sum(dim=1, keepdim=True).expand(b, length)
    return (token_loss / answer_lengths[masked]).sum() / b


def autoregressive_loss(model, input_ids, prompt_lengths):
    logits = model(input_ids[:, :-1]).logits.float()
    targets = input_ids[:, 1:].clone()
    if prompt_lengths is not None:
        positions = torch.arange(1, input_ids.shape[1], device=input_ids.device)[None, :]
        targets[positions < prompt_lengths[:, None]] = -100
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def lr_factor(step, warmup_steps, max_steps, min_ratio):
    """Linear warmup, then cosine decay from 1 to min_ratio at max_steps."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def compute_loss(args, model, batch, mask_id, generator=None):
    input_ids, prompt_lengths = batch
    if args.objective == "ar":
        return autoregressive_loss(model, input_ids, prompt_lengths)
    return diffusion_loss(model, input_ids, prompt_lengths, mask_id, generator)


# ----------------------------------------------------------------------------------------------- checkpoints

def checkpoint_dirs(out_dir):
    names = sorted(n for n in os.listdir(out_dir) if n.startswith("step-")) if os.path.isdir(out_dir) else []
    return [os.path.join(out_dir, n) for n in names]


def save_checkpoint(accelerator, model, tokenizer, out_dir, step, keep):
    """Write step-NNNNNNN/ {model: save_pretrained + tokenizer, state: optimizer, scheduler, RNG} under a
    temporary name and rename it into place, so a kill at any moment leaves only complete checkpoints."""
    final = os.path.join(out_dir, f"step-{step:07d}")
    tmp = os.path.join(out_dir, f"tmp-step-{step:07d}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(os.path.join(tmp, "state"))
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(os.path.join(tmp, "model"), state_dict=state_dict)
        tokenizer.save_pretrained(os.path.join(tmp, "model"))
        with open(os.path.join(tmp, "trainer_state.json"), "w") as handle:
            json.dump({"step": step}, handle)
        if os.path.exists(final):  # the same step saved again (a resumed run that had not moved on)
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in checkpoint_dirs(out_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def export_final(accelerator, model, tokenizer, out_dir):
    """The finished model as a plain save_pretrained directory, out_dir/final (atomic as above)."""
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        tmp, final = os.path.join(out_dir, "tmp-final"), os.path.join(out_dir, "final")
        shutil.rmtree(tmp, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()


# ----------------------------------------------------------------------------------------------- logging

LOG_FIELDS = ["step", "loss", "lr", "tokens", "seconds", "eval_loss", "replay_loss"]


def append_log(path, row, resume_step=None):
    """Append a row to the CSV log; on resume, first drop rows past the checkpoint that was resumed."""
    if resume_step is not None and os.path.exists(path):
        with open(path) as handle:
            kept = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, LOG_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept)
    if row is None:
        return
    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, LOG_FIELDS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)


def plot_log(csv_path, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(steps, [float(r["loss"]) for r in rows], label="train loss", alpha=0.7)
    evals = [(int(r["step"]), float(r["eval_loss"])) for r in rows if r["eval_loss"]]
    if evals:
        ax_loss.plot(*zip(*evals), "o-", label="eval loss")
    replays = [(int(r["step"]), float(r["replay_loss"])) for r in rows if r.get("replay_loss")]
    if replays:
        ax_loss.plot(*zip(*replays), label="replay (pretraining) loss", alpha=0.7)
    ax_loss.set_xlabel("step")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    ax_lr.plot(steps, [float(r["lr"]) for r in rows])
    ax_lr.set_xlabel("step")
    ax_lr.set_ylabel("learning rate")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=["pretrain", "sft"], required=True)
    parser.add_argument("--objective", choices=["diffusion", "ar"], default="diffusion")
    parser.add_argument("--data", required=True, help="training jsonl")
    parser.add_argument("--eval_data", default=None, help="jsonl for eval loss (default: a held-out slice)")
    parser.add_argument("--out", required=True, help="run directory (checkpoints, log.csv, loss.png)")
    parser.add_argument("--init", default=None, help="start from this HF checkpoint (e.g. GSAI-ML/LLaDA-8B-Base)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer dir (default: --init's)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--n_layers", type=int, default=4)
    parser.add_argument("--n_heads", type=int, default=4)
    parser.add_argument("--n_kv_heads", type=int, default=None)
    parser.add_argument("--mlp_hidden_size", type=int, default=None, help="default: 8/3 d_model, rounded to 32")
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32, help="per process and micro-step")
    parser.add_argument("--grad_accum", type=int, default=1)
    parser.add_argument("--max_steps", type=int, required=True)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min_lr_ratio", type=float, default=0.1, help="cosine decays to lr * this")
    parser.add_argument("--warmup_steps", type=int, default=100)
    parser.add_argument("--weight_decay", type=float, default=0.1)
    parser.add_argument("--grad_clip", type=float, default=1.0)
    parser.add_argument("--mixed_precision", choices=["no", "bf16", "fp16"], default="no")
    parser.add_argument("--save_every", type=int, default=200)
    parser.add_argument("--keep_checkpoints", type=int, default=2)
    parser.add_argument("--eval_every", type=int, default=200)
    parser.add_argument("--eval_batches", type=int, default=8)
    parser.add_argument("--log_every", type=int, default=10)
    parser.add_argument("--replay_data", default=None,
                        help="SFT only: pretraining jsonl mixed in as every --replay_every-th step")
    parser.add_argument("--replay_every", type=int, default=4)
    parser.add_argument("--replay_batch_size", type=int, default=8, help="seq_len chunks per replay micro-step")
    parser.add_argument("--replay_weight", type=float, default=0.1,
                        help="factor on the replay loss: pretraining losses are about 20x SFT losses, and at full "
                             "weight their gradients dominate AdamW's second moments and stall the SFT steps")
    parser.add_argument("--group_by_length", action="store_true",
                        help="SFT: batch examples of similar length together (less EOS padding, faster steps); the batch "
                             "width then tells the model each answer's length, which it is not told at "
                             "inference: see GUIDELINES.md before using it for diffusion SFT")
    parser.add_argument("--pad_to_multiple_of", type=int, default=1,
                        help="SFT: pad each batch to a multiple of this, so grouped batches still end in EOS "
                             "runs of varied length and the model keeps learning to stop")
    parser.add_argument("--on_bad_data", choices=["error", "skip"], default="error")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.init is None and args.tokenizer is None:
        parser.error("from scratch, --tokenizer is required (e.g. data/tokenizer)")
    if args.resume and args.init is not None and checkpoint_dirs(args.out):
        print("--resume: continuing from the run's checkpoint; --init is ignored", file=sys.stderr)
    if args.stage != "sft":
        for name in ("replay_data", "group_by_length"):
            if getattr(args, name):
                parser.error(f"--{name} applies to SFT batches; use it with --stage sft")
    for name in ("max_steps", "batch_size", "grad_accum", "seq_len", "save_every", "eval_every", "log_every",
                 "replay_every", "replay_batch_size", "pad_to_multiple_of"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    return args


def build_model(args, tokenizer):
    if args.init:
        model = AutoModel.from_pretrained(args.init)
        model.config.causal = args.objective == "ar"
        return model
    config = LLaDAConfig(
        d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads, n_kv_heads=args.n_kv_heads,
        mlp_hidden_size=args.mlp_hidden_size or 32 * math.ceil(8 * args.d_model / 3 / 32),
        vocab_size=len(tokenizer), max_sequence_length=args.seq_len, rope_theta=10000.0,
        mask_token_id=tokenizer.mask_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, causal=args.objective == "ar")
    return LLaDAModelLM(config)


def make_batch(dataset, indices, stage, args, pad_id, device, generator):
    if stage == "sft":
        input_ids, prompt_lengths = collate_sft([dataset[i] for i in indices.tolist()], pad_id,
                                                args.pad_to_multiple_of, args.seq_len)
        return input_ids.to(device), prompt_lengths.to(device)
    input_ids = dataset[indices]
    if args.objective == "diffusion" and torch.rand((), generator=generator) < 0.01:
        input_ids = input_ids[:, :int(torch.randint(1, args.seq_len + 1, (), generator=generator))]
    return input_ids.to(device), None


@torch.no_grad()
def evaluate(args, model, eval_set, mask_id, pad_id, device):
    """Mean loss over fixed eval batches with a fixed masking seed, so runs and steps are comparable."""
    model.eval()
    generator = torch.Generator(device=device).manual_seed(1234)
    size = len(eval_set)
    losses = []
    for b in range(args.eval_batches):
        indices = torch.arange(b * args.batch_size, (b + 1) * args.batch_size) % size
        batch = make_batch(eval_set, indices, args.stage, args, pad_id, device, torch.Generator().manual_seed(b))
        losses.append(compute_loss(args, model, batch, mask_id, generator).item())
    model.train()
    return sum(losses) / len(losses)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    accelerator = Accelerator(mixed_precision=args.mixed_precision, gradient_accumulation_steps=args.grad_accum)
    set_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.init)
    model = build_model(args, tokenizer)
    tokenizer = patch_tokenizer(tokenizer, model.config)
    mask_id, pad_id = model.config.mask_token_id, tokenizer.eos_token_id

    try:
        dataset = load_dataset(args.data, args.stage, tokenizer, args.seq_len, args.on_bad_data)
        if args.eval_data:
            eval_set = load_dataset(args.eval_data, args.stage, tokenizer, args.seq_len, args.on_bad_data)
        else:  # hold out the last 1% (at least one batch) for the eval loss
            held_out = max(args.batch_size, len(dataset) // 100)
            dataset, eval_set = dataset[:-held_out], dataset[-held_out:]
        replay_set = load_dataset(args.replay_data, "pretrain", tokenizer, args.seq_len, args.on_bad_data) \
            if args.replay_data else None
    except (BadDataError, OSError) as error:
        raise SystemExit(f"error: {error}")
    if len(dataset) < args.batch_size * accelerator.num_processes:
        raise SystemExit(f"error: {args.data} has {len(dataset)} training examples, fewer than one global batch "
                         f"({args.batch_size} x {accelerator.num_processes} processes); lower --batch_size")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, args.warmup_steps, args.max_steps, args.min_lr_ratio))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()

    start_step = 0
    checkpoints = checkpoint_dirs(args.out)
    log_path = os.path.join(args.out, "log.csv")
    if args.resume and checkpoints:
        accelerator.load_state(os.path.join(checkpoints[-1], "state"))
        with open(os.path.join(checkpoints[-1], "trainer_state.json")) as handle:
            start_step = json.load(handle)["step"]
        accelerator.print(f"resumed from {checkpoints[-1]} at step {start_step}")
        if accelerator.is_main_process:
            append_log(log_path, None, resume_step=start_step)
    elif checkpoints and accelerator.is_main_process:
        raise SystemExit(f"error: {args.out} already has checkpoints; pass --resume or choose another --out")
    elif accelerator.is_main_process and os.path.exists(log_path):
        os.remove(log_path)

    with open(os.path.join(args.out, "args.json"), "w") as handle:
        json.dump(vars(args), handle, indent=1)
    global_batch = args.batch_size * accelerator.num_processes * args.grad_accum
    example_lengths = torch.tensor([len(p) + len(a) for p, a in dataset]) if args.group_by_length else None
    replay_global_batch = args.replay_batch_size * accelerator.num_processes * args.grad_accum
    data_generator = torch.Generator()
    tokens_seen, started = 0, time.time()
    latest_loss = {}  # by kind of step: args.stage or "replay"
    progress = tqdm(range(start_step, args.max_steps), initial=start_step, total=args.max_steps,
                    disable=not accelerator.is_main_process, desc=f"{args.stage} ({args.objective})")
    for step in progress:
        replay = replay_set is not None and step % args.replay_every == args.replay_every - 1
        if replay:
            source, stage, batch_size = replay_set, "pretrain", args.replay_batch_size
            indices = batch_indices(len(replay_set), replay_global_batch, step // args.replay_every, args.seed)
        else:
            source, stage, batch_size = dataset, args.stage, args.batch_size
            indices = batch_indices(len(dataset), global_batch, step, args.seed, example_lengths)
        data_generator.manual_seed(args.seed * 7919 + step)
        micro_batches = indices.view(args.grad_accum, accelerator.num_processes, batch_size)
        total_loss = 0.0
        for micro in micro_batches:
            batch = make_batch(source, micro[accelerator.process_index], stage, args, pad_id, accelerator.device,
                               data_generator)
            with accelerator.accumulate(model):
                loss = compute_loss(args, model, batch, mask_id)
                accelerator.backward(loss * args.replay_weight if replay else loss)
                if accelerator.sync_gradients and args.grad_clip:
                    accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            total_loss += loss.item() / args.grad_accum
            tokens_seen += batch[0].numel() * accelerator.num_processes
        done = step + 1
        latest_loss["replay" if replay else args.stage] = total_loss
        if not math.isfinite(total_loss):
            raise SystemExit(f"error: loss became {total_loss} at step {done}; lower --lr or resume from a checkpoint")
        eval_loss = evaluate(args, model, eval_set, mask_id, pad_id, accelerator.device) \
            if done % args.eval_every == 0 or done == args.max_steps else None
        if accelerator.is_main_process and (done % args.log_every == 0 or eval_loss is not None):
            loss = latest_loss.get(args.stage, total_loss)
            progress.set_postfix(loss=f"{loss:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            append_log(log_path, dict(step=done, loss=f"{loss:.5f}", lr=f"{scheduler.get_last_lr()[0]:.3e}",
                                      tokens=tokens_seen, seconds=f"{time.time() - started:.1f}",
                                      eval_loss="" if eval_loss is None else f"{eval_loss:.5f}",
                                      replay_loss=f"{latest_loss['replay']:.5f}" if "replay" in latest_loss else ""))
            if eval_loss is not None:
                plot_log(log_path, os.path.join(args.out, "loss.png"))
        if done % args.save_every == 0 or done == args.max_steps:
            save_checkpoint(accelerator, model, tokenizer, args.out, done, args.keep_checkpoints)
    export_final(accelerator, model, tokenizer, args.out)
    accelerator.print(f"done: {os.path.join(args.out, 'final')}")


if __name__ == "__main__":
    main()
