"""Pretrain or fine-tune (SFT) a LLaDA mask predictor, or its autoregressive twin.

Objectives (the LLaDA paper, arXiv:2502.09992, section 2 and Appendix B):
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

- multi-turn SFT (paper App. B.1): a dialogue with n assistant turns is n (prompt, answer) pairs, the prompt
  being every earlier message; each time the dialogue is drawn one pair is sampled (--multiturn sample), or
  every pair is its own example (expand), or only the last is trained (last).
- memory: --gradient_checkpointing recomputes activations per block; --lora_r trains a PEFT LoRA adapter of
  the blocks' linear layers instead of every weight, --qlora with the frozen weights in 4-bit NF4
  (--quantization int8: in LLM.int8()).

Data: jsonl with {"text": ...} per line for pretraining (packed into seq_len chunks) and
{"messages": [{"role", "content"}, ...]} for SFT (system/user/assistant turns, rendered with the tokenizer's
chat template). Runs on one device or many through accelerate (`accelerate launch train.py ...`; the noise and
the padding of a global batch do not depend on the number of processes); checkpoints are save_pretrained
directories (LoRA runs: the adapter) written atomically with a manifest of sha256 hashes, and --resume continues
from the newest complete one with the same optimizer, scheduler, data position and RNG state; --overwrite starts
an --out that holds a run over. `python train.py merge --adapter RUN/final --out DIR`
merges a LoRA adapter into its base. See GUIDELINES.md for recipes.
"""

import argparse
import csv
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, broadcast_object_list, set_seed
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from modeling_llada import (QUANTIZATIONS, LLaDAConfig, LLaDAModelLM, load_for_script, patch_tokenizer,
                            quantization_config)

EPS = 1e-3
LORA_LAYERS = ("q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out")  # a block's linear layers
HEAD = "transformer.ff_out"  # the output head (absent with weight tying)


# ----------------------------------------------------------------------------------------------- data

class BadDataError(ValueError):
    pass


def read_jsonl(path, stage, tokenizer, seq_len, on_bad_data):
    """Yield tokenised examples from a jsonl file, reporting bad lines with file and line number.
    pretrain: lists of ids (BOS text EOS); sft: dialogues, lists of (prompt ids, answer ids) pairs."""
    bad = 0
    with open(path, "rb") as handle:  # bytes: a line that is not UTF-8 is bad data like any other
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
                if not line.strip():
                    continue
                record = json.loads(line)
                example = (pretrain_example if stage == "pretrain" else sft_dialogue)(record, tokenizer, seq_len)
            except (UnicodeDecodeError, json.JSONDecodeError, BadDataError) as error:
                if isinstance(error, UnicodeDecodeError):
                    error = f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at column {error.start + 1})"
                message = f"{path}:{line_number}: {error}"
                if on_bad_data == "error":
                    raise BadDataError(f"{message} (fix the line, or pass --on_bad_data skip)") from None
                bad += 1
                print(f"skipping {message}", file=sys.stderr)
                continue
            yield example
    if bad:
        print(f"{path}: skipped {bad} bad lines", file=sys.stderr)


def check_text(text, what):
    """Strings from JSON may hold lone surrogates (\\udc80 escapes), which are not text: the tokenizer fails on them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadDataError(f"{what} holds {text[error.start]!r}, a lone surrogate, not text") from None


def pretrain_example(record, tokenizer, seq_len):
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise BadDataError('missing or empty "text" field')
    check_text(text, '"text"')
    return [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def sft_dialogue(record, tokenizer, seq_len):
    """A conversation as (prompt ids, answer ids) pairs, one per assistant turn (paper App. B.1). The prompt is the
    chat template's rendering of every earlier message plus the assistant header (add_generation_prompt=True, the
    prompt chat.py samples from); the answer is the turn's content closed as the template closes it (<|eot_id|>)."""
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        raise BadDataError('missing "messages" list')
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) \
                or not isinstance(message.get("content"), str):
            raise BadDataError('every message needs string "role" and "content"')
        check_text(message["role"] + message["content"], "a message")
    if messages[-1]["role"] != "assistant":
        raise BadDataError("the last message must be the assistant's answer")
    pairs = []
    for turn, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        if not message["content"].strip():
            raise BadDataError(f"empty answer (message {turn + 1})")
        prompt = tokenizer.apply_chat_template(messages[:turn], add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(messages[:turn + 1], tokenize=False)
        if not full.startswith(prompt):
            raise BadDataError("the chat template does not render the answer after the prompt")
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
        if len(prompt_ids) + len(answer_ids) > seq_len:
            raise BadDataError(f"{len(prompt_ids) + len(answer_ids)} tokens up to message {turn + 1}, longer than "
                               f"--seq_len {seq_len}")
        pairs.append((prompt_ids, answer_ids))
    return pairs


def load_dataset(path, stage, tokenizer, seq_len, on_bad_data):
    """Pretraining: one LongTensor (n_chunks, seq_len) of packed documents. SFT: a list of dialogues, each a list
    of (prompt, answer) pairs."""
    examples = read_jsonl(path, stage, tokenizer, seq_len, on_bad_data)
    if stage == "sft":
        return list(examples)
    stream = [token for example in examples for token in example]
    n_chunks = len(stream) // seq_len
    if n_chunks == 0:
        raise BadDataError(f"{path}: fewer than --seq_len {seq_len} tokens in all")
    return torch.tensor(stream[:n_chunks * seq_len]).view(n_chunks, seq_len)


def select_turns(dialogues, multiturn):
    """The SFT examples for --multiturn: `sample` keeps each dialogue whole (one of its pairs is drawn each time it
    is batched, as in the paper), `expand` makes every pair its own example, `last` keeps only the last pair (the
    rule before multi-turn SFT, which the bundled models were trained with)."""
    if multiturn == "expand":
        return [[pair] for dialogue in dialogues for pair in dialogue]
    if multiturn == "last":
        return [dialogue[-1:] for dialogue in dialogues]
    return dialogues


def collate_sft(pairs, pad_id, multiple_of=1, max_width=None, longest=None):
    """Right-pad prompt + answer with EOS to the longest example (`longest`: of the global batch, so the width does
    not depend on the number of processes; default: of `pairs`), rounded up to `multiple_of` and at most `max_width`
    unless an example is longer; the padding counts as answer."""
    longest = longest or max(len(p) + len(a) for p, a in pairs)
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

def diffusion_loss(model, input_ids, prompt_lengths, mask_id, generator=None, shard=(0, 1)):
    """The masked diffusion loss. prompt_lengths is None for pretraining. shard=(index, count): these rows are the
    index-th of count equal slices of a global batch (one per process); the noise is drawn for the whole global
    batch and sliced, so every process draws the same numbers and a global batch gets the same masks, and the
    same loss, on any number of processes."""
    b, length = input_ids.shape
    device = input_ids.device
    index, count = shard
    rows = slice(index * b, (index + 1) * b)
    t = torch.rand(b * count, device=device, generator=generator)[rows]
    p_mask = ((1 - EPS) * t + EPS)[:, None].expand(b, length)
    masked = torch.rand(b * count, length, device=device, generator=generator)[rows] < p_mask
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


def compute_loss(args, model, batch, mask_id, generator=None, shard=(0, 1)):
    input_ids, prompt_lengths = batch
    if args.objective == "ar":
        return autoregressive_loss(model, input_ids, prompt_lengths)
    return diffusion_loss(model, input_ids, prompt_lengths, mask_id, generator, shard)


# ----------------------------------------------------------------------------------------------- checkpoints

MANIFEST = "manifest.json"
RUN_FILES = ("final", "log.csv")  # with the step-* checkpoints: what a run leaves that --overwrite replaces


def checkpoint_dirs(out_dir):
    """The run's step-N checkpoint folders, oldest first."""
    names = [n for n in os.listdir(out_dir) if re.fullmatch(r"step-\d+", n)] if os.path.isdir(out_dir) else []
    return [os.path.join(out_dir, n) for n in sorted(names, key=lambda n: int(n[5:]))]


def run_contents(out_dir):
    """The finished work in out_dir that a new run would replace: step-* checkpoints, final/, log.csv."""
    names = [os.path.basename(d) for d in checkpoint_dirs(out_dir)]
    return names + [n for n in RUN_FILES if os.path.exists(os.path.join(out_dir, n))]


def clear_run(out_dir):
    """Start over (--overwrite): remove everything an earlier run wrote to out_dir, and nothing else."""
    for name in os.listdir(out_dir):
        if re.fullmatch(r"(tmp-|deleting-)?(step-\d+|final)|log\.csv|loss\.png", name):
            path = os.path.join(out_dir, name)
            discard(path) if os.path.isdir(path) else os.remove(path)


def hash_file(path, sync=False):
    """sha256 of a file; sync: also flush it to disk, so a manifest vouches for data that is there."""
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if sync:
            os.fsync(handle.fileno())
    return digest


def write_manifest(directory, step):
    """Write directory/manifest.json, the size and sha256 of every other file of the checkpoint: the last file
    written, so a checkpoint without a valid one is incomplete. Hashing reads the checkpoint once (in threads:
    hashlib releases the GIL), right after it was written, mostly from the page cache."""
    names = sorted(os.path.relpath(os.path.join(root, name), directory)
                   for root, _, files in os.walk(directory) for name in files if name != MANIFEST)
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(lambda name: hash_file(os.path.join(directory, name), sync=True), names))
    files = {name: {"size": os.path.getsize(os.path.join(directory, name)), "sha256": digest}
             for name, digest in zip(names, digests)}
    tmp = os.path.join(directory, MANIFEST + ".tmp")
    with open(tmp, "w") as handle:
        json.dump({"step": step, "files": files}, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, os.path.join(directory, MANIFEST))


def checkpoint_problem(directory):
    """Why the checkpoint in directory is incomplete or damaged, or None if its files match its manifest."""
    try:
        with open(os.path.join(directory, MANIFEST)) as handle:
            manifest = json.load(handle)
        step, files = manifest["step"], manifest["files"]
        sizes = {name: int(entry["size"]) for name, entry in files.items()}
        hashes = {name: str(entry["sha256"]) for name, entry in files.items()}
    except FileNotFoundError:
        return f"no {MANIFEST} (written last: the checkpoint was cut short, or is older than manifests)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return f"unreadable {MANIFEST} ({error.__class__.__name__}: {error})"
    if step != int(os.path.basename(directory)[5:]):
        return f"its {MANIFEST} is for step {step}"
    for needed in ("trainer_state.json", "state/", "model/"):
        if not any(name == needed or name.startswith(needed) for name in files):
            return f"its {MANIFEST} lists no {needed}"
    for name, size in sizes.items():  # sizes first: cheap, and the usual damage (a cut-short copy)
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            return f"{name} is missing"
        if os.path.getsize(path) != size:
            return f"{name} has {os.path.getsize(path)} bytes, its manifest says {size}"
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        for name, digest in zip(hashes, pool.map(lambda name: hash_file(os.path.join(directory, name)), hashes)):
            if digest != hashes[name]:
                return f"{name} does not match its sha256 in the manifest"
    return None


def newest_complete_checkpoint(out_dir):
    """The newest checkpoint whose files match its manifest, warning about each newer one skipped; or None."""
    for directory in reversed(checkpoint_dirs(out_dir)):
        problem = checkpoint_problem(directory)
        if problem is None:
            return directory
        print(f"warning: skipping {directory}: {problem}", file=sys.stderr)
    return None


def discard(path):
    """Delete a folder by renaming it out of the way first, so a kill while deleting leaves no half folder under
    its name (a half-deleted step-N would look like a checkpoint)."""
    trash = os.path.join(os.path.dirname(path), "deleting-" + os.path.basename(path))
    shutil.rmtree(trash, ignore_errors=True)
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def fsync_dir(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_checkpoint(accelerator, model, tokenizer, out_dir, step, keep, trainer_state):
    """Write step-NNNNNNN/ {model: save_pretrained + tokenizer (a LoRA run's: the adapter), state: optimizer,
    scheduler, RNG, trainer_state.json: step, tokens and seconds so far, manifest.json: every file's size and
    sha256, written last} under a temporary name and rename it into place, so a kill at any moment leaves only
    complete checkpoints, and resuming can tell a damaged one. keep: how many to keep (0: all); checkpoints past
    this step (skipped as damaged when this run resumed) are left alone until this run saves their step again."""
    final = os.path.join(out_dir, f"step-{step:07d}")
    tmp = os.path.join(out_dir, f"tmp-step-{step:07d}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(os.path.join(tmp, "state"))
    state_dict = accelerator.get_state_dict(model)
    accelerator.wait_for_everyone()  # every process's files are written
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(os.path.join(tmp, "model"), state_dict=state_dict)
        tokenizer.save_pretrained(os.path.join(tmp, "model"))
        with open(os.path.join(tmp, "trainer_state.json"), "w") as handle:
            json.dump(dict(trainer_state, step=step), handle)
        write_manifest(tmp, step)
        if os.path.exists(final):  # the same step saved again (a resumed run that had not moved on)
            discard(final)
        os.replace(tmp, final)
        fsync_dir(out_dir)
        earlier = [d for d in checkpoint_dirs(out_dir) if int(os.path.basename(d)[5:]) <= step]
        for old in earlier[:-keep] if keep else []:
            discard(old)
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
        if os.path.exists(final):
            discard(final)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()


def keep_trainable_tensors(models, weights, output_dir):
    """accelerate save_state hook for LoRA runs: drop the frozen base weights from the saved model state, keeping
    the adapter's; resuming loads --init again and then this state (load_state(strict=False))."""
    for model, state in zip(models, weights):
        trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
        for name in [name for name in state if name not in trainable]:
            del state[name]


def merge(argv):
    """python train.py merge --adapter RUN/final --out DIR: merge a LoRA adapter into its base model and save the
    result, with the adapter's tokenizer, as a full checkpoint every script loads as --model DIR."""
    parser = argparse.ArgumentParser(prog="train.py merge", description=merge.__doc__.split(": ", 1)[1])
    parser.add_argument("--adapter", required=True, help="adapter directory (a --lora_r run's final/ or step-N/model/)")
    parser.add_argument("--out", required=True, help="directory for the merged checkpoint")
    parser.add_argument("--model", default=None, help="base model (default: the one the adapter was trained on)")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                        help="weights' dtype (default: the base checkpoint's)")
    args = parser.parse_args(argv)
    model, tokenizer = load_for_script(parser, args.model, device="cpu", dtype=args.dtype, adapter=args.adapter)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(f"merged {args.adapter} into {args.out}")


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

def add_run_args(parser):
    """What to train, on what data, into which run directory."""
    parser.add_argument("--stage", choices=["pretrain", "sft"], required=True)
    parser.add_argument("--objective", choices=["diffusion", "ar"], default="diffusion")
    parser.add_argument("--data", required=True, help="training jsonl")
    parser.add_argument("--eval_data", default=None, help="jsonl for eval loss (default: a held-out slice)")
    parser.add_argument("--out", required=True, help="run directory (checkpoints, log.csv, loss.png)")
    parser.add_argument("--init", default=None, help="start from this HF checkpoint (e.g. GSAI-ML/LLaDA-8B-Base)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer dir (default: --init's)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest complete checkpoint in --out (start if it holds no run)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in an --out that holds a run, deleting its checkpoints, final/ and log")


def add_model_args(parser):
    """The shape of a model trained from scratch (ignored with --init)."""
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--n_layers", type=int, default=4)
    parser.add_argument("--n_heads", type=int, default=4)
    parser.add_argument("--n_kv_heads", type=int, default=None)
    parser.add_argument("--mlp_hidden_size", type=int, default=None, help="default: 8/3 d_model, rounded to 32")


def add_training_args(parser):
    """Batches, steps and the optimizer."""
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


def add_bookkeeping_args(parser):
    """Checkpoints, eval loss and log."""
    parser.add_argument("--save_every", type=int, default=200)
    parser.add_argument("--keep_checkpoints", type=int, default=2, help="keep the newest N checkpoints; 0: all")
    parser.add_argument("--eval_every", type=int, default=200)
    parser.add_argument("--eval_batches", type=int, default=8)
    parser.add_argument("--log_every", type=int, default=10)


def add_sft_args(parser):
    """SFT batches: replay, grouping, padding, multi-turn dialogues."""
    parser.add_argument("--replay_data", default=None,
                        help="SFT only: pretraining jsonl mixed in as every --replay_every-th step")
    parser.add_argument("--replay_every", type=int, default=4)
    parser.add_argument("--replay_batch_size", type=int, default=8, help="seq_len chunks per replay micro-step")
    parser.add_argument("--replay_weight", type=float, default=0.1,
                        help="factor on the replay loss: pretraining losses are about 20x SFT losses, and at full "
                             "weight their gradients dominate AdamW's second moments and stall the SFT steps")
    parser.add_argument("--group_by_length", action="store_true",
                        help="SFT: batch examples of similar length together (less EOS padding, faster steps); the "
                             "batch width then tells the model each answer's length, which it is not told at "
                             "inference: see GUIDELINES.md before using it for diffusion SFT")
    parser.add_argument("--pad_to_multiple_of", type=int, default=1,
                        help="SFT: pad each batch to a multiple of this, so grouped batches still end in EOS "
                             "runs of varied length and the model keeps learning to stop")
    parser.add_argument("--multiturn", choices=["sample", "expand", "last"], default="sample",
                        help="SFT on dialogues with several assistant turns: sample one turn each time a dialogue is "
                             "drawn (paper App. B.1), expand every turn into its own example, or train the last "
                             "turn only (how the bundled models were trained); single-turn data is the same in all")


def add_memory_and_lora_args(parser):
    """Gradient checkpointing, LoRA / QLoRA."""
    parser.add_argument("--gradient_checkpointing", action="store_true",
                        help="recompute each block's activations in the backward pass: less memory, slower steps")
    parser.add_argument("--lora_r", type=int, default=0, help="train a LoRA adapter of this rank on the --init model "
                                                              "(PEFT) instead of every weight; 0 = full fine-tuning")
    parser.add_argument("--lora_alpha", type=float, default=None, help="LoRA scale numerator (default: 2 x rank)")
    parser.add_argument("--lora_dropout", type=float, default=0.05)
    parser.add_argument("--lora_targets", default=",".join(LORA_LAYERS),
                        help="comma list of the blocks' linear layers to adapt, in every block; add "
                             f"{HEAD} for the output head (a bare ff_out means the blocks' FFN output)")
    parser.add_argument("--qlora", action="store_true",
                        help="with --lora_r: hold the frozen --init weights in 4-bit NF4 (bitsandbytes)")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default=None,
                        help="with --lora_r: hold the frozen --init weights quantised (bitsandbytes): int4 is --qlora, "
                             "int8 LLM.int8()")


def add_misc_args(parser):
    """Bad data lines, the seed, CPU threads."""
    parser.add_argument("--on_bad_data", choices=["error", "skip"], default="error")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def check_run_dir(parser, args):
    """A usage error for an --out / --resume / --overwrite / --init / --keep_checkpoints combination that cannot
    be meant."""
    if args.init is None and args.tokenizer is None:
        parser.error("from scratch, --tokenizer is required (e.g. data/tokenizer)")
    existing = run_contents(args.out)
    if args.resume and args.overwrite:
        parser.error("--resume continues the run in --out, --overwrite deletes it: pass one of them")
    if existing and not (args.resume or args.overwrite):
        parser.error(f"{args.out} already holds a run ({', '.join(existing)}); pass --resume to continue it, "
                     "--overwrite to start over, or choose another --out")
    if args.resume and "final" in existing and not checkpoint_dirs(args.out):
        parser.error(f"--resume: {args.out} holds a finished run (final/) but no step-* checkpoint to continue "
                     "from; pass --overwrite to start over, or choose another --out")
    if args.keep_checkpoints < 0:
        parser.error("--keep_checkpoints must be positive, or 0 to keep all")
    if args.resume and args.init is not None and not args.lora_r and checkpoint_dirs(args.out):
        print("--resume: continuing from the run's checkpoint; --init is ignored", file=sys.stderr)


def check_options(parser, args):
    """A usage error for an option that is out of range or does not go with the others; --qlora becomes
    --quantization int4 and --lora_targets a list."""
    if args.stage != "sft":
        for name in ("replay_data", "group_by_length"):
            if getattr(args, name):
                parser.error(f"--{name} applies to SFT batches; use it with --stage sft")
    for name in ("max_steps", "batch_size", "grad_accum", "seq_len", "save_every", "eval_every", "log_every",
                 "replay_every", "replay_batch_size", "pad_to_multiple_of"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    if args.lora_r < 0:
        parser.error("--lora_r must be positive (or 0 for full fine-tuning)")
    if args.lora_r and args.init is None:
        parser.error("--lora_r adapts a trained model: pass --init")
    if args.qlora and not args.lora_r:
        parser.error("--qlora trains a LoRA adapter: pass --lora_r too")
    if args.qlora and args.quantization not in (None, "int4"):
        parser.error(f"--qlora is --quantization int4; it does not go with --quantization {args.quantization}")
    if args.quantization and not args.lora_r:
        parser.error(f"--quantization {args.quantization}: quantised weights cannot be trained; train a LoRA adapter "
                     f"on them (--lora_r R), or load them unquantised")
    if args.qlora:
        args.quantization = "int4"
    if not 0 <= args.lora_dropout < 1:
        parser.error("--lora_dropout must be in [0, 1)")
    args.lora_targets = [name.strip() for name in args.lora_targets.split(",") if name.strip()]
    unknown = [name for name in args.lora_targets if name not in LORA_LAYERS + (HEAD,)]
    if unknown or not args.lora_targets:
        parser.error(f"--lora_targets: unknown layer {', '.join(unknown) or '(none)'}; choose from "
                     f"{', '.join(LORA_LAYERS + (HEAD,))}")


def parse_args(argv=None):
    """The command line, checked. The options are added per concern by the add_*_args functions (plain functions, not
    argparse argument groups, so that --help keeps listing them in one list, in this order); the checks are split
    the same way."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="python train.py merge --help: merge a LoRA adapter into its base model")
    for add in (add_run_args, add_model_args, add_training_args, add_bookkeeping_args, add_sft_args,
                add_memory_and_lora_args, add_misc_args):
        add(parser)
    args = parser.parse_args(argv)
    check_run_dir(parser, args)
    check_options(parser, args)
    return args


def build_model(args, tokenizer, device):
    """The model to train: a new one, or --init's; with --gradient_checkpointing, --lora_r and --qlora /
    --quantization applied."""
    if args.init:
        quantization = {}
        if args.quantization:  # int4: NF4 with double-quantised scales, computing in bf16 (QLoRA)
            quantization = dict(device_map={"": device},
                                quantization_config=quantization_config(args.quantization, torch.bfloat16))
        model = AutoModel.from_pretrained(args.init, **quantization)
        model.config.causal = args.objective == "ar"
    else:
        config = LLaDAConfig(
            d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads, n_kv_heads=args.n_kv_heads,
            mlp_hidden_size=args.mlp_hidden_size or 32 * math.ceil(8 * args.d_model / 3 / 32),
            vocab_size=len(tokenizer), max_sequence_length=args.seq_len, rope_theta=10000.0,
            mask_token_id=tokenizer.mask_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, causal=args.objective == "ar")
        model = LLaDAModelLM(config)
    if args.quantization:  # PEFT's preparation: base frozen, its unquantized half-precision weights in float32
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=args.gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif args.gradient_checkpointing:
        # transformers 5.2x renamed gradient_checkpointing_enable (the old name still works, with a warning)
        getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
    if args.lora_r:
        from peft import LoraConfig, get_peft_model
        # the adapter's config records its base (PEFT reads name_or_path); a local one as an absolute path, so
        # scripts find it from any directory
        model.name_or_path = os.path.abspath(args.init) if os.path.isdir(args.init) else args.init
        model = get_peft_model(model, LoraConfig(
            r=args.lora_r, lora_alpha=args.lora_alpha or 2 * args.lora_r, lora_dropout=args.lora_dropout,
            target_modules=lora_target_modules(args.lora_targets)))
    return model


def lora_target_modules(targets):
    """PEFT's target_modules as one regular expression over module names. A plain name list would not do: PEFT
    matches names by suffix, so "ff_out" would also take the output head model.transformer.ff_out."""
    layers = [name for name in targets if name != HEAD]
    patterns = [rf"model\.transformer\.blocks\.\d+\.({'|'.join(layers)})"] if layers else []
    if HEAD in targets:
        patterns.append(rf"model\.{re.escape(HEAD)}")
    return "|".join(patterns)


def make_batch(source, indices, stage, args, pad_id, device, generator, turns=None, shard=(0, 1)):
    """This process's rows of a global micro-batch. indices: the global micro-batch's examples (processes x
    batch_size); shard=(process index, processes). Diffusion pretraining: generator draws whether the batch is one
    of the 1% cut to a random length (None: never cut, for eval batches). SFT: turns are uniform draws in [0, 1)
    choosing each dialogue's pair (default: its first); every process pads to the global micro-batch's longest
    example, so a batch does not depend on the number of processes."""
    index, count = shard
    rows = slice(index * len(indices) // count, (index + 1) * len(indices) // count)
    if stage == "sft":
        draws = turns.tolist() if turns is not None else [0.0] * len(indices)
        pairs = [source[i][int(u * len(source[i]))] for i, u in zip(indices.tolist(), draws)]
        longest = max(len(p) + len(a) for p, a in pairs)
        input_ids, prompt_lengths = collate_sft(pairs[rows], pad_id, args.pad_to_multiple_of, args.seq_len, longest)
        return input_ids.to(device), prompt_lengths.to(device)
    input_ids = source[indices[rows]]
    if generator is not None and args.objective == "diffusion" and torch.rand((), generator=generator) < 0.01:
        input_ids = input_ids[:, :int(torch.randint(1, args.seq_len + 1, (), generator=generator))]
    return input_ids.to(device), None


@torch.no_grad()
def evaluate(args, model, eval_set, mask_id, pad_id, device):
    """Mean loss over fixed eval batches with a fixed masking seed, so runs and steps are comparable. Eval batches
    are whole: the 1% crop is a training augmentation (drawn from the batch index, it used to cut eval batch 3,
    one of the default 8, to a random length)."""
    model.eval()
    generator = torch.Generator(device=device).manual_seed(1234)
    size = len(eval_set)
    losses = []
    for b in range(args.eval_batches):
        indices = torch.arange(b * args.batch_size, (b + 1) * args.batch_size) % size
        batch = make_batch(eval_set, indices, args.stage, args, pad_id, device, generator=None)
        losses.append(compute_loss(args, model, batch, mask_id, generator).item())
    model.train()
    return sum(losses) / len(losses)


def resume(accelerator, args, checkpoint):
    """Load a verified checkpoint's optimizer, scheduler, RNG and (LoRA: adapter) state; return its step, tokens
    seen and training seconds. A clear error, never a traceback or an inexact resume, when that cannot be done."""
    def fail(message):  # said once, by the main process
        message = f"error: --resume: {message}; pass --overwrite to start over, or choose another --out"
        raise SystemExit(message if accelerator.is_main_process else 1)

    if checkpoint is None:
        fail(f"{args.out} has no complete checkpoint (see the warnings above)")
    with open(os.path.join(checkpoint, MANIFEST)) as handle:
        names = json.load(handle)["files"]
    rng_files = [name for name in names if re.fullmatch(r"state/random_states_\d+\.pkl", name)]
    if len(rng_files) != accelerator.num_processes:
        fail(f"{checkpoint} was written by {len(rng_files)} processes, this run has {accelerator.num_processes}: "
             "resume with as many as before")
    try:
        accelerator.load_state(os.path.join(checkpoint, "state"), **({"strict": False} if args.lora_r else {}))
        with open(os.path.join(checkpoint, "trainer_state.json")) as handle:
            state = json.load(handle)
        return state["step"], state.get("tokens", 0), state.get("seconds", 0.0)
    except (OSError, RuntimeError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        fail(f"cannot load {checkpoint} ({error.__class__.__name__}: {first_line}); were the model options changed?")


def load_data(args, tokenizer, processes):
    """(training set, eval set, replay set or None) as --data, --eval_data (default: a held-out slice) and
    --replay_data give them; a clear error (SystemExit) for bad data or fewer examples than one global batch."""
    try:
        dataset = load_dataset(args.data, args.stage, tokenizer, args.seq_len, args.on_bad_data)
        if args.eval_data:
            eval_set = load_dataset(args.eval_data, args.stage, tokenizer, args.seq_len, args.on_bad_data)
        else:  # hold out the last 1% (at least one global batch) for the eval loss; a function of the global
            # batch, not of its split into processes and micro-batches, which must not change the training data
            held_out = max(args.batch_size * processes * args.grad_accum, len(dataset) // 100)
            dataset, eval_set = dataset[:-held_out], dataset[-held_out:]
        if args.stage == "sft":  # the eval loss scores every turn of the held-out dialogues (or only the last)
            dataset = select_turns(dataset, args.multiturn)
            eval_set = select_turns(eval_set, "last" if args.multiturn == "last" else "expand")
        replay_set = load_dataset(args.replay_data, "pretrain", tokenizer, args.seq_len, args.on_bad_data) \
            if args.replay_data else None
    except (BadDataError, OSError) as error:
        raise SystemExit(f"error: {error}")
    if len(dataset) < args.batch_size * processes * args.grad_accum:
        eval_note = "" if args.eval_data else f" ({held_out} more held out for the eval loss, or pass --eval_data)"
        raise SystemExit(f"error: {args.data} has {len(dataset)} training examples{eval_note}, fewer than one global "
                         f"batch ({args.batch_size} x {processes} processes x {args.grad_accum} "
                         "accumulation steps); lower --batch_size or --grad_accum")
    return dataset, eval_set, replay_set


def make_optimizer(args, model):
    """AdamW (weight decay on the matrices only) and the warmup + cosine schedule of lr_factor."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, args.warmup_steps, args.max_steps, args.min_lr_ratio))
    return optimizer, scheduler


def start_or_resume(accelerator, args, log_path):
    """(first step, tokens seen, training seconds): a checkpoint's with --resume when --out holds one, else a new
    run's zeros, after clearing what an earlier run (--overwrite) left in --out."""
    start_step, tokens_seen, seconds = 0, 0, 0.0
    if args.resume and checkpoint_dirs(args.out):
        # the main process verifies (reading the checkpoint once) and tells the others which one it chose
        resume_from = [newest_complete_checkpoint(args.out) if accelerator.is_main_process else None]
        if accelerator.num_processes > 1:
            broadcast_object_list(resume_from)
        start_step, tokens_seen, seconds = resume(accelerator, args, resume_from[0])
        accelerator.print(f"resumed from {resume_from[0]} at step {start_step}")
        if accelerator.is_main_process:
            append_log(log_path, None, resume_step=start_step)
    elif accelerator.is_main_process:  # a new run: nothing of an earlier one (--overwrite) survives
        clear_run(args.out)
    accelerator.wait_for_everyone()
    return start_step, tokens_seen, seconds


def step_batches(args, step, data, accelerator, data_generator):
    """(source, stage, micro-batches of global indices, turn draws per micro-batch, is replay) of a step: every
    --replay_every-th step a replay batch, else a training batch."""
    dataset, replay_set, example_lengths = data
    processes = accelerator.num_processes
    replay = replay_set is not None and step % args.replay_every == args.replay_every - 1
    if replay:
        source, stage, batch_size = replay_set, "pretrain", args.replay_batch_size
        indices = batch_indices(len(replay_set), args.replay_batch_size * processes * args.grad_accum,
                                step // args.replay_every, args.seed)
    else:
        source, stage, batch_size = dataset, args.stage, args.batch_size
        indices = batch_indices(len(dataset), args.batch_size * processes * args.grad_accum, step, args.seed,
                                example_lengths)
    data_generator.manual_seed(args.seed * 7919 + step)
    micro_batches = indices.view(args.grad_accum, processes * batch_size)
    # which turn each dialogue contributes: a function of the step, the same on every process
    turns = [None] * args.grad_accum if stage != "sft" else \
        torch.rand(micro_batches.shape, generator=data_generator)
    return source, stage, micro_batches, turns, replay


def train_step(args, step, data, accelerator, model, optimizer, scheduler, mask_id, pad_id, data_generator):
    """One optimizer step over --grad_accum micro-batches; returns (is replay, mean loss, tokens in the step)."""
    source, stage, micro_batches, turns, replay = step_batches(args, step, data, accelerator, data_generator)
    shard = (accelerator.process_index, accelerator.num_processes)
    total_loss, tokens = 0.0, 0
    for micro, micro_turns in zip(micro_batches, turns):
        batch = make_batch(source, micro, stage, args, pad_id, accelerator.device, data_generator, micro_turns,
                           shard)
        with accelerator.accumulate(model):
            loss = compute_loss(args, model, batch, mask_id, shard=shard)
            accelerator.backward(loss * args.replay_weight if replay else loss)
            if accelerator.sync_gradients and args.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        total_loss += accelerator.reduce(loss.detach(), reduction="mean").item() / args.grad_accum
        tokens += batch[0].numel() * accelerator.num_processes
    return replay, total_loss, tokens


def log_step(args, log_path, done, latest_loss, total_loss, eval_loss, lr, tokens_seen, seconds, progress):
    """The progress bar's loss and a row of log.csv (and loss.png after an eval)."""
    loss = latest_loss.get(args.stage, total_loss)
    progress.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
    append_log(log_path, dict(step=done, loss=f"{loss:.5f}", lr=f"{lr:.3e}", tokens=tokens_seen,
                              seconds=f"{seconds:.1f}", eval_loss="" if eval_loss is None else f"{eval_loss:.5f}",
                              replay_loss=f"{latest_loss['replay']:.5f}" if "replay" in latest_loss else ""))
    if eval_loss is not None:
        plot_log(log_path, os.path.join(args.out, "loss.png"))


def setup(args):
    """(accelerator, tokenizer, model, mask id, pad id) of a run."""
    if args.threads:
        torch.set_num_threads(args.threads)
    # train.py cuts the global batches itself; split_batches=True tells accelerate so, and makes the prepared
    # scheduler step once per optimizer step (by default it steps once per process, for per-process dataloaders)
    accelerator = Accelerator(mixed_precision=args.mixed_precision, gradient_accumulation_steps=args.grad_accum,
                              dataloader_config=DataLoaderConfiguration(split_batches=True))
    if args.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        # accelerate takes fp16 on a CPU without a word and trains in float32 (no autocast, no gradient scaler)
        raise SystemExit("error: --mixed_precision fp16 needs a GPU; on a CPU it would train in float32 (use bf16)")
    set_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.init)
    model = build_model(args, tokenizer, accelerator.device)
    tokenizer = patch_tokenizer(tokenizer, model.config)
    return accelerator, tokenizer, model, model.config.mask_token_id, tokenizer.eos_token_id


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    if argv[:1] == ["merge"]:
        return merge(argv[1:])
    args = parse_args(argv)
    accelerator, tokenizer, model, mask_id, pad_id = setup(args)
    dataset, eval_set, replay_set = load_data(args, tokenizer, accelerator.num_processes)
    optimizer, scheduler = make_optimizer(args, model)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()
    if args.lora_r:  # the frozen base is --init's: a checkpoint's state holds only the trainable (adapter) tensors
        accelerator.register_save_state_pre_hook(keep_trainable_tensors)
    log_path = os.path.join(args.out, "log.csv")
    start_step, tokens_seen, seconds = start_or_resume(accelerator, args, log_path)

    with open(os.path.join(args.out, "args.json"), "w") as handle:
        json.dump(vars(args), handle, indent=1)
    # a dialogue's longest pair is its last (the prompt holds every earlier turn)
    example_lengths = torch.tensor([len(p) + len(a) for p, a in (d[-1] for d in dataset)]) \
        if args.group_by_length else None
    data = (dataset, replay_set, example_lengths)
    data_generator = torch.Generator()
    started = time.time() - seconds  # training time so far, over resumes
    latest_loss = {}  # by kind of step: args.stage or "replay"
    progress = tqdm(range(start_step, args.max_steps), initial=start_step, total=args.max_steps,
                    disable=not accelerator.is_main_process, desc=f"{args.stage} ({args.objective})")
    for step in progress:
        replay, total_loss, tokens = train_step(args, step, data, accelerator, model, optimizer, scheduler,
                                                mask_id, pad_id, data_generator)
        tokens_seen += tokens
        done = step + 1
        latest_loss["replay" if replay else args.stage] = total_loss
        if not math.isfinite(total_loss):
            raise SystemExit(f"error: loss became {total_loss} at step {done}; lower --lr or resume from a checkpoint")
        eval_loss = evaluate(args, model, eval_set, mask_id, pad_id, accelerator.device) \
            if done % args.eval_every == 0 or done == args.max_steps else None
        if accelerator.is_main_process and (done % args.log_every == 0 or eval_loss is not None):
            log_step(args, log_path, done, latest_loss, total_loss, eval_loss, scheduler.get_last_lr()[0],
                     tokens_seen, time.time() - started, progress)
        if done % args.save_every == 0 or done == args.max_steps:
            save_checkpoint(accelerator, model, tokenizer, args.out, done, args.keep_checkpoints,
                            dict(tokens=tokens_seen, seconds=round(time.time() - started, 3)))
    export_final(accelerator, model, tokenizer, args.out)
    accelerator.print(f"done: {os.path.join(args.out, 'final')}")


if __name__ == "__main__":
    main()
