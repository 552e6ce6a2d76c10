"""Benchmark generate()'s sampling modes side by side: speed, forward passes, memory and accuracy.

For each gen_length (default 64, 256, 512; block 32, steps = gen_length, i.e. the reference's one token per
step), every mode answers the same held-out arithmetic questions (data/arith_test.jsonl, chat prompts through
the tokenizer's chat template, final answer parsed by prompting.parse_final_answer from the text before the
first EoT/EOS). Reported per mode:
forward passes (model calls) per answer token, row passes per answer token (the rows of those calls: a row whose
answer is finished leaves the batch), answer tokens per second of generate() wall time, speedup over the reference
mode, peak memory, exact-match accuracy, and the share of rows token-identical to the reference.

  python benchmarks/bench_generate.py                          # the bundled models/llada-tiny-instruct, CPU
  python benchmarks/bench_generate.py --model PATH --questions 40
  python benchmarks/bench_generate.py --random-tiny            # random weights on data/tokenizer (develop)
  python benchmarks/bench_generate.py --random-8b              # random LLaDA-8B shape, bf16, CUDA, no accuracy

Writes benchmarks/results/<tag>.md (the table), <tag>.json (every number) and <tag>.png (the plot).
Peak memory: torch.cuda.max_memory_allocated on CUDA; on the CPU, the process's peak resident memory above
what it held before the mode started (sampled every 5 ms from /proc, after returning freed heap pages to the
OS with malloc_trim), so read CPU figures as approximate.
"""

import argparse
import ctypes
import gc
import json
import os
import shlex
import sys
import threading
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from generate import generate  # noqa: E402
from modeling_llada import DEFAULT_MODEL, LLaDAConfig, LLaDAModelLM, load_model_and_tokenizer, patch_tokenizer  # noqa: E402,E501

# The published LLaDA-8B config fields (its config.json) that shape the network.
LLADA_8B = dict(d_model=4096, n_heads=32, n_kv_heads=32, n_layers=32, mlp_hidden_size=12288, vocab_size=126464,
                embedding_size=126464, max_sequence_length=4096, rope_theta=500000.0, rope_full_precision=True,
                rms_norm_eps=1e-5, layer_norm_with_affine=True, weight_tying=False, mask_token_id=126336,
                eos_token_id=126081, pad_token_id=126081)


def modes(threshold, factor):
    """name -> generate() options. 'exact' holds only the token-identical optimisations."""
    return {
        "reference": {},
        "exact": dict(block_logits=True, early_exit=True),
        "prefix": dict(cache="prefix"),
        "dual": dict(cache="dual"),
        f"threshold {threshold}": dict(threshold=threshold),
        "prefix+thr": dict(cache="prefix", threshold=threshold),
        "dual+thr": dict(cache="dual", threshold=threshold),
        f"dual+factor {factor}": dict(cache="dual", factor=factor),
        "dual+thr+exit": dict(cache="dual", threshold=threshold, early_exit=True),
    }


class PeakMemory:
    """Peak memory of a region: CUDA allocator statistics, or sampled resident memory on the CPU."""

    def __init__(self, device):
        self.device = torch.device(device)

    @staticmethod
    def _rss():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            gc.collect()
            try:  # hand freed heap pages back to the OS so the next mode's growth shows in the resident size
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            except OSError:
                pass
            self.base = self.peak = self._rss()
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self.running = False
            self.thread.join()
            self.bytes = self.peak - self.base


def load_questions(path, count):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return rows[:count] if count else rows


def encode(model, tokenizer, questions):
    from prompting import encode_chat, left_pad, special_ids
    return left_pad([encode_chat(tokenizer, q["question"]) for q in questions], special_ids(model, tokenizer).pad,
                    device=model.device)


def random_tiny(tokenizer_path, device):
    """Random weights in the bundled model's shape (train_tiny.sh), on the project's tokenizer."""
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    config = LLaDAConfig(d_model=256, n_layers=6, n_heads=4, mlp_hidden_size=704, vocab_size=len(tokenizer),
                         max_sequence_length=1024, rope_theta=10000.0, mask_token_id=tokenizer.mask_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LLaDAModelLM(config).to(device).eval()
    return model, patch_tokenizer(tokenizer, config)


def random_8b(device, shrink=False):
    """Random weights in the LLaDA-8B shape (bf16); shrink=True keeps the vocabulary and ids but makes the
    network tiny, to rehearse the GPU run on a CPU."""
    torch.manual_seed(0)
    fields = dict(LLADA_8B)
    if shrink:
        fields.update(d_model=64, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=128)
    config = LLaDAConfig(**fields)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = LLaDAModelLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval(), None


def run_mode(model, batches, gen_length, block_length, options, ids):
    """Generate every batch; returns (outputs, wall seconds, process CPU seconds, forward calls, rows over those
    calls, peak bytes)."""
    calls, rows = [0], [0]
    cpu_seconds = 0.0

    def count(module, args, output):
        calls[0] += 1
        rows[0] += args[0].shape[0]
    handle = model.register_forward_hook(count)
    outputs, seconds = [], 0.0
    try:
        with PeakMemory(model.device) as memory:
            for prompt, mask in batches:
                if model.device.type == "cuda":
                    torch.cuda.synchronize(model.device)
                start, cpu_start = time.perf_counter(), time.process_time()
                out = generate(model, prompt, attention_mask=mask, steps=gen_length, gen_length=gen_length,
                               block_length=block_length, mask_id=ids["mask"], eos_id=ids["eos"], eot_id=ids["eot"],
                               **options)
                if model.device.type == "cuda":
                    torch.cuda.synchronize(model.device)
                seconds += time.perf_counter() - start
                cpu_seconds += time.process_time() - cpu_start
                outputs.append(out[:, prompt.shape[1]:].cpu())
    finally:
        handle.remove()
    return outputs, seconds, cpu_seconds, calls[0], rows[0], memory.bytes


def answer_tokens(row, ids):
    """The answer proper: the tokens before the first EoT or EOS (what follows is padding, or junk that a model
    writes past its training length)."""
    from prompting import cut_answer
    return cut_answer(row.tolist(), {ids["eos"], ids["eot"]})


def fmt_bytes(n):
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def write_table(results, args, title, path):
    has_accuracy = any(r["accuracy"] is not None for r in results)
    on_cpu = "CPU" in title
    header = ["gen_length", "mode", "fwd/token", "row fwd/token", "tokens/s", "speedup"]
    header += ["speedup (CPU s)"] if on_cpu else []
    header += ["peak mem"]
    if has_accuracy:
        header += ["accuracy", "= reference"]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        row = [str(r["gen_length"]), r["mode"], f"{r['forwards_per_token']:.3f}", f"{r['row_forwards_per_token']:.3f}",
               f"{r['tokens_per_s']:.1f}", f"{r['speedup']:.2f}x"]
        row += ([f"{r['cpu_speedup']:.2f}x"] if on_cpu else []) + [fmt_bytes(r["peak_bytes"])]
        if has_accuracy:
            row += [f"{100 * r['accuracy']:.1f}% ({r['correct']}/{r['rows']})", f"{100 * r['identical']:.0f}%"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Command: `{args.command}`", ""]
    with open(path, "w") as handle:
        handle.write("\n".join(lines))
    return "\n".join(lines)


def plot(results, title, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(r["mode"] for r in results))
    lengths = sorted({r["gen_length"] for r in results})
    has_accuracy = any(r["accuracy"] is not None for r in results)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in names:
        rows = [r for r in results if r["mode"] == name]
        axes[0].plot([r["gen_length"] for r in rows], [r["tokens_per_s"] for r in rows], marker="o", label=name)
        if has_accuracy:
            axes[1].scatter([r["speedup"] for r in rows], [100 * r["accuracy"] for r in rows], label=name)
            for r in rows:
                axes[1].annotate(str(r["gen_length"]), (r["speedup"], 100 * r["accuracy"]), fontsize=7)
        else:
            axes[1].plot([r["gen_length"] for r in rows], [r["peak_bytes"] / 2**30 for r in rows], marker="o",
                         label=name)
    axes[0].set(xlabel="gen_length (block 32)", ylabel="answer tokens / s", yscale="log", xscale="log",
                xticks=lengths, xticklabels=[str(n) for n in lengths], title="throughput")
    if has_accuracy:
        axes[1].set(xlabel="speedup over reference (x)", ylabel="accuracy (%)", xscale="log",
                    title="accuracy vs speedup (labels: gen_length)")
    else:
        axes[1].set(xlabel="gen_length", ylabel="peak memory (GiB)", title="peak memory")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=f"checkpoint directory (default: {DEFAULT_MODEL})")
    parser.add_argument("--random-tiny", action="store_true", help="random weights in the bundled model's shape")
    parser.add_argument("--random-8b", action="store_true",
                        help="random-weight LLaDA-8B shape in bf16 on CUDA; random prompts, no accuracy")
    parser.add_argument("--shrink-8b", action="store_true", help="with --random-8b: a tiny network with the 8B "
                        "vocabulary, to rehearse the GPU run on the CPU")
    parser.add_argument("--tokenizer", default=os.path.join(ROOT, "data", "tokenizer"), help="for --random-tiny")
    parser.add_argument("--gen-lengths", type=int, nargs="+", default=None, help="default 64 256 512 (8b: 256 1024)")
    parser.add_argument("--block-length", type=int, default=32)
    parser.add_argument("--modes", nargs="+", default=None, help="subset of the mode names (default: all)")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--factor", type=float, default=1.0)
    parser.add_argument("--questions", type=int, default=40, help="arithmetic questions per length (0 = all)")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "arith_test.jsonl"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--prompt-length", type=int, default=64, help="--random-8b: random prompt tokens")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 or float16")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--tag", default=None, help="file name stem of the results (default from the model)")
    args = parser.parse_args(argv)
    args.command = "python benchmarks/bench_generate.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    return parser, args


def load_subject(args):
    """The model under test, its tokenizer (None for --random-8b), its special ids, the gen_lengths, and the
    results' title and file name stem."""
    if args.random_8b:
        model, tokenizer = random_8b(args.device or "cuda", shrink=args.shrink_8b)
        ids = dict(mask=model.config.mask_token_id, eos=model.config.eos_token_id, eot=126348)
        title = "random-weight LLaDA-8B shape, bf16" + (" (shrunk rehearsal)" if args.shrink_8b else "")
        return model, tokenizer, ids, args.gen_lengths or [256, 1024], title, args.tag or "random-8b"
    if args.random_tiny:
        model, tokenizer = random_tiny(args.tokenizer, args.device or "cpu")
        title, tag = "random-weight tiny model (bundled shape)", args.tag or "random-tiny"
    else:
        path = args.model or DEFAULT_MODEL
        model, tokenizer = load_model_and_tokenizer(path, device=args.device, dtype=args.dtype)
        title, tag = os.path.basename(os.path.normpath(path)), args.tag or os.path.basename(os.path.normpath(path))
    from prompting import special_ids
    special = special_ids(model, tokenizer)
    ids = dict(mask=special.mask, eos=special.eos, eot=special.eot)
    return model, tokenizer, ids, args.gen_lengths or [64, 256, 512], title, tag


def prompt_batches(args, model, tokenizer):
    """The questions (None without a tokenizer) and the batches of (prompt ids, attention mask) to answer:
    the arithmetic questions in the chat template, or one batch of random prompt tokens."""
    if tokenizer is None:
        generator = torch.Generator().manual_seed(0)
        prompt = torch.randint(0, 126000, (args.batch_size, args.prompt_length), generator=generator).to(model.device)
        return None, [(prompt, None)]
    questions = load_questions(args.data, args.questions)
    return questions, [encode(model, tokenizer, questions[i:i + args.batch_size])
                       for i in range(0, len(questions), args.batch_size)]


def chosen_modes(parser, args):
    """The option table and the names of the modes to run, the reference first (the others are measured
    against it)."""
    table = modes(args.threshold, args.factor)
    chosen = args.modes or list(table)
    unknown = [m for m in chosen if m not in table]
    if unknown:
        parser.error(f"unknown modes {unknown}; choose from {list(table)}")
    return table, chosen if "reference" in chosen else ["reference"] + chosen


def measure(model, encoded, gen_length, args, mode, options, ids, reference, questions, tokenizer):
    """One mode at one gen_length: its result row (reference: the reference mode's row and answers, None when
    this is the reference) and its answers."""
    from prompting import parse_final_answer
    outputs, seconds, cpu_seconds, calls, row_calls, peak = run_mode(model, encoded, gen_length, args.block_length,
                                                                     options, ids)
    rows = sum(o.shape[0] for o in outputs)
    result = dict(gen_length=gen_length, mode=mode, options=options, rows=rows, seconds=seconds,
                  cpu_seconds=cpu_seconds, forward_calls=calls, row_forwards=row_calls,
                  forwards_per_token=calls / (len(outputs) * gen_length),
                  row_forwards_per_token=row_calls / (rows * gen_length),
                  tokens_per_s=rows * gen_length / seconds, peak_bytes=peak, accuracy=None, correct=None)
    all_out = torch.cat(outputs)
    base, reference_out = reference or (result, all_out)
    result["speedup"] = result["tokens_per_s"] / base["tokens_per_s"]
    result["cpu_speedup"] = base["cpu_seconds"] / result["cpu_seconds"]
    result["identical"] = float((all_out == reference_out).all(dim=1).float().mean())
    if questions is not None:
        texts = tokenizer.batch_decode([answer_tokens(row, ids) for row in all_out], skip_special_tokens=True)
        correct = sum(parse_final_answer(t) == q["answer"] for t, q in zip(texts, questions))
        result.update(correct=correct, accuracy=correct / rows, sample=texts[0])
    return result, all_out


def main(argv=None):
    parser, args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from tqdm.auto import tqdm

    model, tokenizer, ids, lengths, title, tag = load_subject(args)
    device = model.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    title = f"{title} on {name}, block {args.block_length}, steps = gen_length"
    questions, encoded = prompt_batches(args, model, tokenizer)
    table, chosen = chosen_modes(parser, args)

    longest = max(p.shape[1] for p, _ in encoded) + max(lengths)
    if longest > model.config.max_sequence_length:
        print(f"note: prompt + gen_length reaches {longest} tokens, past the model's max_sequence_length "
              f"{model.config.max_sequence_length} (its training length); RoPE runs there but quality may drop")
        model.config.max_sequence_length = longest

    # Warm-up (allocator, kernels) so the first mode is not charged for it.
    generate(model, encoded[0][0][:1], steps=args.block_length, gen_length=args.block_length,
             block_length=args.block_length, mask_id=ids["mask"], cache="dual")

    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, tag)

    def save():  # after every mode, so an interrupted run keeps what it measured
        text = write_table(results, args, title, stem + ".md")
        with open(stem + ".json", "w") as handle:
            json.dump(dict(title=title, command=args.command, device=name, results=results), handle, indent=1)
        return text

    results = []
    progress = tqdm(total=len(lengths) * len(chosen), desc="modes")
    for gen_length in lengths:
        reference = None  # the reference mode's result and answers, once measured
        for mode in chosen:
            progress.set_postfix(gen_length=gen_length, mode=mode)
            result, answers = measure(model, encoded, gen_length, args, mode, table[mode], ids,
                                      None if mode == "reference" else reference, questions, tokenizer)
            if mode == "reference":
                reference = result, answers
            results.append(result)
            save()
            progress.update()
    progress.close()
    text = save()
    plot(results, title, stem + ".png")
    print(text)
    print(f"wrote {stem}.md, {stem}.json, {stem}.png")


if __name__ == "__main__":
    main()
