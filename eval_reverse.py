"""The reversal-curse evaluation (paper Table 4): complete a couplet forwards or backwards.

forward (--type ftb): given the first line, the model is asked for the next one;
backward (--type btf): given the second line, it is asked for the previous one.
An item is a hit when the true line is a substring of the decoded answer; accuracy = hits / items.

Data: a JSON list (or JSON lines) of couplets {"first": ..., "second": ...} (this project's
data/sonnet_couplets.json, the default; its "split" field selects held-out or SFT couplets; a "source" field is
carried into the output), or of [first, second] pairs. Lines are used exactly as written (not stripped).
Chinese couplets get the Chinese question template, anything else the English one the bundled model was
fine-tuned on (data/build_data.py).

    python eval_reverse.py --type ftb --split heldout --output runs/reverse_ftb.jsonl

Paper Table 4 (LLaDA-8B-Instruct, 469 classical Chinese couplets). Download the original release's poem file
(JSON list of {"first", "second", "source"}) and run both directions:

    curl -L -o data/poem_data.json https://raw.githubusercontent.com/ML-GSAI/LLaDA/main/data/poem_data.json
    python eval_reverse.py --model GSAI-ML/LLaDA-8B-Instruct --data data/poem_data.json --type ftb \
        --batch_size 1 --output runs/poem_ftb.jsonl
    python eval_reverse.py --model GSAI-ML/LLaDA-8B-Instruct --data data/poem_data.json --type btf \
        --batch_size 1 --output runs/poem_btf.jsonl

For such a file everything matches the original script (eval_reverse.py of ML-GSAI/LLaDA):
- questions: forward  X + "的下一句是什么？" + " 直接输出句子即可。"  (no quotation marks; the instruction,
  "just output the sentence directly", begins with an ASCII space), backward  Y + "的上一句是什么？" + the same
  instruction; each is one user message of the tokenizer's chat template with add_generation_prompt=True,
  tokenized with the tokenizer's default call as in the original (the template holds <|startoftext|>;
  LLaDA's tokenizers add no BOS of their own);
- defaults: --gen_length 28, --steps = --block_length = gen_length (one block of 28 steps), temperature 0,
  low-confidence remasking, --cfg 0, no --eos_inf; the original's flags --gen_length, --block_length, --cfg,
  --eos_inf and --type are accepted with the same meaning;
- the hit rule: the whole answer region (all gen_length tokens, also what follows an end-of-text token) is
  decoded with skip_special_tokens=True, and the target, unstripped, must be a substring of it.
The original runs one couplet at a time; --batch_size 1 does the same (no padding, no attention mask). Larger
batches (default 32) are left-padded: the padding is masked out of attention and RoPE only sees relative
positions, so a batched row equals its one-at-a-time run up to float rounding (a test checks this on a tiny
random model; in bfloat16 a rare near-tie can still flip a token, hence --batch_size 1 for an exact rerun).

Prints the accuracy and writes one JSON line per item (question, target, answer, hit) to --output.
A causal checkpoint (config.causal, the autoregressive twin of train.py --objective ar) is decoded greedily left to
right instead (same prompts, same answer length; --cfg does not apply to it).
"""

import argparse
import json
import os
import re
import sys

import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from generate import check_length, finite_float, generate  # noqa: E402
from prompting import backward_question, encode_chat, forward_question, left_pad, special_ids  # noqa: E402

DEFAULT_DATA = os.path.join(ROOT, "data", "sonnet_couplets.json")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


# The original release's Chinese prompt: "<line>的下一句是什么？" (what is the next line of <line>?) or
# "<line>的上一句是什么？" (... the previous line ...), then " 直接输出句子即可。" (just output the sentence directly).
ZH_NEXT, ZH_PREV = "的下一句是什么？", "的上一句是什么？"
ZH_INSTRUCTION = " 直接输出句子即可。"  # starts with an ASCII space, as in the original


def chinese_question(line, direction):
    """The original release's Chinese question for the given line (no quotation marks around it)."""
    return line + (ZH_NEXT if direction == "ftb" else ZH_PREV) + ZH_INSTRUCTION


def english_question(line, direction):
    return forward_question(line) if direction == "ftb" else backward_question(line)


def _couplet(row, index, path):
    """One couplet from a {"first", "second", ...} object or a [first, second] pair; ValueError if malformed."""
    if isinstance(row, dict):
        first, second = row.get("first"), row.get("second")
    elif isinstance(row, (list, tuple)) and len(row) >= 2:
        first, second = row[0], row[1]
    else:
        first = second = None
    if not (isinstance(first, str) and isinstance(second, str)):
        raise ValueError(f"{path}: item {index} is not a couplet ({{\"first\": str, \"second\": str}} or "
                         f"[first, second]): {json.dumps(row, ensure_ascii=False)[:80]}")
    couplet = {"first": first, "second": second}
    if isinstance(row, dict) and "source" in row:
        couplet["source"] = row["source"]
    return couplet


def load_couplets(path, split="all"):
    """Couplets of a JSON list or JSON-lines file, lines as written. Raises OSError for an unreadable file and
    ValueError for one that is not a list of couplets."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        rows = json.loads(text)
    except json.JSONDecodeError:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path} is neither a JSON list nor JSON lines (line {number}: {error})") \
                        from None
    if isinstance(rows, dict):  # a JSON-lines file of one couplet
        rows = [rows]
    if not isinstance(rows, list):
        raise ValueError(f"{path} must hold a JSON list of couplets, not a JSON {type(rows).__name__}")
    couplets = []
    for index, row in enumerate(rows):
        couplet = _couplet(row, index, path)
        if isinstance(row, dict) and split != "all" and row.get("split", split) != split:
            continue
        couplets.append(couplet)
    return couplets


def build_items(couplets, direction, template="auto"):
    items = []
    for c in couplets:
        given, target = (c["first"], c["second"]) if direction == "ftb" else (c["second"], c["first"])
        language = template if template != "auto" else ("zh" if _CJK.search(given + target) else "en")
        ask = chinese_question if language == "zh" else english_question
        items.append({"question": ask(given, direction), "given": given, "target": target, **(
            {"source": c["source"]} if "source" in c else {})})
    return items


def is_hit(target, answer):
    """The original's rule: the target line, as written, is a substring of the decoded answer."""
    return target in answer


@torch.no_grad()
def autoregressive_generate(model, prompt, attention_mask, gen_length, stop_ids, eos_id=None):
    """Greedy left-to-right decoding for a causal model (config.causal, e.g. train.py --objective ar): the
    logits at the last position predict the next token. Rows that have emitted a stop token keep emitting it."""
    x, mask = prompt, attention_mask
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    stop = torch.tensor(sorted(stop_ids), device=x.device)
    for _ in range(gen_length):
        logits = model(x, attention_mask=mask).logits[:, -1].float()
        if eos_id is not None:
            logits[:, eos_id] = -torch.inf
        token = logits.argmax(dim=-1)
        token = torch.where(done, stop[0], token)
        done |= torch.isin(token, stop)
        x = torch.cat([x, token[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        if done.all():
            x = torch.cat([x, torch.full((x.shape[0], prompt.shape[1] + gen_length - x.shape[1]), stop[0].item(),
                                         dtype=x.dtype, device=x.device)], dim=1)
            break
    return x


@torch.no_grad()
def answer_questions(model, tokenizer, questions, gen_length, steps, block_length, cfg_scale=0., logits_eos_inf=False,
                     batch_size=32, chat=True):
    """The decoded answers to `questions`, as the original scores them: each question is one user turn of the
    chat template (unless chat=False), and the whole answer region of gen_length tokens is decoded with
    skip_special_tokens=True (text after an end-of-text token included; nothing stripped). Greedy (temperature 0)
    with low-confidence remasking, as the original.

    Questions go batch_size at a time, left-padded; a batch without padding (batch_size=1 always) is sampled
    with no attention mask, exactly like the original's one-at-a-time call."""
    special = special_ids(model, tokenizer)
    answers = []
    for start in range(0, len(questions), batch_size):
        chunk = questions[start:start + batch_size]
        # Chat prompts are tokenized as the original does (the tokenizer's default call; the template writes the
        # BOS and LLaDA's tokenizers add nothing of their own); plain prompts get no special tokens.
        ids = [encode_chat(tokenizer, q, add_special_tokens=True) if chat
               else tokenizer(q, add_special_tokens=False)["input_ids"] for q in chunk]
        prompt, attention = left_pad(ids, special.pad, device=model.device)
        width = prompt.shape[1]
        if getattr(model.config, "causal", False):  # the autoregressive twin: greedy next-token decoding
            check_length(model, width, gen_length)
            out = autoregressive_generate(model, prompt, attention, gen_length, special.stops,
                                          eos_id=special.eos if logits_eos_inf else None)
        else:
            out = generate(model, prompt, attention_mask=None if bool(attention.all()) else attention, steps=steps,
                           gen_length=gen_length, block_length=block_length, cfg_scale=cfg_scale,
                           mask_id=special.mask, logits_eos_inf=logits_eos_inf, eos_id=special.eos,
                           eot_id=special.eot)
        answers.extend(tokenizer.batch_decode(out[:, width:], skip_special_tokens=True))
    return answers


def parse_args(argv=None):
    """(parser, args) of the command line; the original's flag names (--cfg, --eos_inf, ...) are kept."""
    parser = argparse.ArgumentParser(description="Reversal curse: complete couplets forwards (ftb) or backwards (btf).")
    parser.add_argument("--model", default=None, help="HF id or local path (default: the bundled tiny model)")
    parser.add_argument("--adapter", default=None,
                        help="a LoRA adapter directory (train.py --lora_r), merged into --model (default: its base)")
    parser.add_argument("--data", default=DEFAULT_DATA, help="couplets: JSON list / JSON lines of {first, second}")
    parser.add_argument("--type", choices=("ftb", "btf"), default="ftb",
                        help="ftb: first line given, predict the next; btf: second given, predict the previous")
    parser.add_argument("--split", default="all", help="keep couplets whose 'split' field has this value "
                        "(heldout / sft for the bundled data; 'all' keeps everything)")
    parser.add_argument("--template", choices=("auto", "zh", "en"), default="auto",
                        help="question template (auto: Chinese for CJK text, else English)")
    parser.add_argument("--gen_length", type=int, default=None,
                        help="answer length (default: 28 as in the paper for Chinese, 48 for English)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: gen_length)")
    parser.add_argument("--block_length", type=int, default=None, help="block length (default: gen_length)")
    parser.add_argument("--cfg", type=finite_float, default=0., help="classifier-free guidance scale (cfg_scale)")
    parser.add_argument("--eos_inf", action="store_true", help="forbid EOS while sampling (logits_eos_inf)")
    parser.add_argument("--no_chat", action="store_true", help="do not apply the chat template (Base models)")
    parser.add_argument("--batch_size", type=int, default=32,
                        help="questions per forward batch, left-padded (1: one at a time, as the original)")
    parser.add_argument("--limit", type=int, default=None, help="first N couplets only")
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", default=None,
                        help="per-item results, JSON lines (default: runs/reverse_<type>.jsonl)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    from modeling_llada import add_loading_args
    args = add_loading_args(parser).parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1 (got {args.batch_size})")
    if args.limit is not None and args.limit < 0:
        parser.error(f"--limit must be >= 0 (got {args.limit})")
    return parser, args


def read_items(parser, args):
    """The questions of --data (a usage error when it cannot be read or holds none)."""
    try:
        couplets = load_couplets(args.data, args.split)[:args.limit]
    except OSError as error:
        parser.error(f"cannot read --data {args.data}: {error.strerror or error}")
    except ValueError as error:
        parser.error(str(error))
    if not couplets:
        parser.error(f"no couplets in {args.data} (split={args.split})")
    return build_items(couplets, args.type, args.template)


def write_results(output, direction, items, answers):
    """One JSON line per item (question, target, answer, hit) to output; returns the number of hits."""
    hits = 0
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        for index, (item, answer) in enumerate(zip(items, answers)):
            hit = is_hit(item["target"], answer)
            hits += hit
            f.write(json.dumps({"index": index, "type": direction, **item, "answer": answer, "hit": hit},
                               ensure_ascii=False) + "\n")
    return hits


def main(argv=None):
    parser, args = parse_args(argv)
    items = read_items(parser, args)
    chinese = any(_CJK.search(i["question"]) for i in items)
    gen_length = args.gen_length or (28 if chinese else 48)
    steps = args.steps or gen_length
    block_length = args.block_length or gen_length

    from modeling_llada import load_for_script, loading_options
    model, tokenizer = load_for_script(parser, args.model, device=args.device, adapter=args.adapter,
                                       **loading_options(args))
    output = args.output or os.path.join("runs", f"reverse_{args.type}.jsonl")
    if os.path.exists(output) and not args.overwrite:  # before the sampling, so no work is lost either
        parser.error(f"{output} already exists; pass --overwrite to replace it, or another --output")
    try:
        answers = answer_questions(model, tokenizer, [i["question"] for i in items], gen_length, steps,
                                   block_length, cfg_scale=args.cfg, logits_eos_inf=args.eos_inf,
                                   batch_size=args.batch_size, chat=not args.no_chat)
    except ValueError as error:
        parser.error(str(error))
    hits = write_results(output, args.type, items, answers)
    accuracy = 100.0 * hits / len(items)
    print(f"type={args.type} n={len(items)} gen_length={gen_length} steps={steps} block_length={block_length} "
          f"cfg={args.cfg} eos_inf={args.eos_inf} temperature=0 batch_size={args.batch_size}")
    print(f"accuracy: {accuracy:.2f}% ({hits}/{len(items)})")
    print(f"per-item results: {output}")
    return accuracy


if __name__ == "__main__":
    main()
