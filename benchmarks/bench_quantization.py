"""Weight quantisation side by side: memory, speed and held-out arithmetic of one checkpoint per precision.

Modes: float32 and bfloat16 (no quantisation), int8 (bitsandbytes LLM.int8()) and int4 (bitsandbytes NF4),
the last two through load_model_and_tokenizer(quantization=...) with float32 compute on the CPU (bfloat16 on a
GPU), as every script loads them with --quantization. Each mode runs in its own subprocess, so one mode's peak
cannot hide in another's, and every worker imports bitsandbytes before its first measurement, so the runtime
libraries are the same in all of them.

Each mode answers the held-out arithmetic questions (data/arith_test.jsonl, 300; chat prompts, left-padded
batches with their attention mask) with the model card's settings: gen_length 96, steps 96, blocks of 32, EOS and
EoT committed last (confidence_eos_eot_inf), the answer cut at its first EOS / EoT and scored on its final integer
(data.build_data.parse_final_answer), as `eval_llada.py --tasks llada_arith ... confidence_eos_eot_inf=True,
cut_at_eos=True` does.

  python benchmarks/bench_quantization.py                       # bundled model, CPU, 1 thread, all 300 questions
  python benchmarks/bench_quantization.py --questions 40 --modes float32 int4
  python benchmarks/bench_quantization.py --device cuda --model GSAI-ML/LLaDA-8B-Instruct --gen-length 256 \
      --steps 256 --batch-size 8 --modes bfloat16 int8 int4   # not run here (no GPU)

Reported per mode:
- weights: model.get_memory_footprint(), the bytes of the parameters and buffers as stored;
- CPU: peak RSS, the process's resident peak (getrusage; Python, torch and bitsandbytes included), and what loading
  and sampling added to the resident memory after the imports; CUDA: torch.cuda.max_memory_allocated;
- tokens/s: answer tokens (gen_length per question, EOS padding included) over the wall time of the generate()
  calls; on the CPU also over their process CPU time, steadier on a shared machine;
- accuracy: exact final integer.
Writes benchmarks/results/quantization-<tag>.json and .md.
"""

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MODES = {"float32": dict(dtype="float32"), "bfloat16": dict(dtype="bfloat16"),
         "int8": dict(quantization="int8"), "int4": dict(quantization="int4")}
MIB = 2 ** 20


def resident_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(args, mode):
    """One mode in this process; returns its row."""
    try:
        import bitsandbytes  # noqa: F401  (loaded in every mode, so the baselines hold the same libraries)
    except ImportError:
        pass
    from tqdm.auto import tqdm

    from generate import generate
    from modeling_llada import load_model_and_tokenizer
    from prompting import cut_answer, encode_chat, left_pad, parse_final_answer, special_ids

    cuda = args.device.startswith("cuda")
    options = dict(MODES[mode])
    if "dtype" not in options:
        options["dtype"] = "bfloat16" if cuda else "float32"  # the loader's default compute dtype
    before = torch.cuda.memory_allocated() if cuda else resident_bytes()
    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device, **options)
    loaded = torch.cuda.memory_allocated() if cuda else resident_bytes()
    ids = special_ids(model, tokenizer)
    with open(args.data, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    rows = rows[:args.questions] if args.questions else rows
    correct, seconds, cpu_seconds, tokens = 0, 0.0, 0.0, 0
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for start in tqdm(range(0, len(rows), args.batch_size), desc=mode, unit="batch"):
        batch = rows[start:start + args.batch_size]
        prompt, attention_mask = left_pad([encode_chat(tokenizer, row["question"]) for row in batch], ids.pad,
                                          device=model.device)
        if cuda:
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        out = generate(model, prompt, attention_mask=attention_mask, steps=args.steps, gen_length=args.gen_length,
                       block_length=args.block_length, mask_id=ids.mask, confidence_eos_eot_inf=True, eos_id=ids.eos,
                       eot_id=ids.eot)
        if cuda:
            torch.cuda.synchronize()
        seconds += time.perf_counter() - wall
        cpu_seconds += time.process_time() - cpu
        tokens += out.shape[0] * args.gen_length
        for row, answer in zip(batch, out[:, prompt.shape[1]:].cpu()):
            text = tokenizer.decode(cut_answer(answer, ids.stops), skip_special_tokens=True)
            correct += parse_final_answer(text) == int(row["answer"])
    result = dict(mode=mode, dtype=options["dtype"], quantization=options.get("quantization"),
                  weights_mib=round(model.get_memory_footprint() / MIB, 2), questions=len(rows), correct=correct,
                  accuracy=round(100 * correct / len(rows), 1), tokens_per_s=round(tokens / seconds, 1))
    if cuda:
        result.update(peak_allocated_mib=round(torch.cuda.max_memory_allocated() / MIB, 1))
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result.update(peak_rss_mib=round(peak / MIB, 1), load_added_mib=round((loaded - before) / MIB, 1),
                      peak_added_mib=round((peak - before) / MIB, 1),
                      tokens_per_cpu_s=round(tokens / cpu_seconds, 1))
    return result


def _version(package):
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def run_in_subprocess(args, mode):
    command = [sys.executable, os.path.abspath(__file__), "--worker", mode] + args.forward
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # stderr (tqdm) goes to the terminal
    if result.returncode != 0:
        return dict(mode=mode, error=f"failed (exit {result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows, cuda):
    if cuda:
        lines = ["| mode | weights (MiB) | peak allocated (MiB) | tokens/s | accuracy |", "|---|---|---|---|---|"]
    else:
        lines = ["| mode | weights (MiB) | peak RSS (MiB) | added by loading (MiB) | added at peak (MiB) | tokens/s "
                 "| tokens/CPU-s | accuracy |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['mode']} | {r['error']} |")
            continue
        accuracy = f"{r['accuracy']:.1f}% ({r['correct']}/{r['questions']})"
        if cuda:
            lines.append(f"| {r['mode']} | {r['weights_mib']:.1f} | {r['peak_allocated_mib']:,.0f} "
                         f"| {r['tokens_per_s']:,.0f} | {accuracy} |")
        else:
            lines.append(f"| {r['mode']} | {r['weights_mib']:.1f} | {r['peak_rss_mib']:,.0f} | "
                         f"{r['load_added_mib']:,.0f} | {r['peak_added_mib']:,.0f} | {r['tokens_per_s']:,.0f} | "
                         f"{r['tokens_per_cpu_s']:,.0f} | {accuracy} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled models/llada-tiny-instruct)")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--questions", type=int, default=0, help="first N questions (default 0: all 300)")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "arith_test.jsonl"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--gen-length", type=int, default=96)
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--block-length", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--tag", default=None, help="results file stem (default: <device>-<model directory>)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if min(args.batch_size, args.gen_length, args.steps, args.block_length, args.threads) < 1 or args.questions < 0:
        parser.error("--batch-size, --gen-length, --steps, --block-length and --threads must be positive")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    torch.set_num_threads(args.threads)
    if args.worker:  # quiet loading, as the scripts load
        import logging

        from transformers.utils import logging as transformers_logging
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
        print(json.dumps(measure(args, args.worker)))
        return
    args.forward = list(argv)
    cuda = args.device.startswith("cuda")
    rows = [run_in_subprocess(args, mode) for mode in args.modes]
    model_name = os.path.basename(os.path.normpath(args.model)) if args.model else "llada-tiny-instruct"
    tag = args.tag or f"{'cuda' if cuda else 'cpu'}-{model_name}"
    device = torch.cuda.get_device_name() if cuda else f"CPU, {args.threads} thread{'s' * (args.threads > 1)}"
    command = "python benchmarks/bench_quantization.py " + shlex.join(argv)
    settings = (f"gen_length {args.gen_length}, steps {args.steps}, block {args.block_length}, batch "
                f"{args.batch_size}, EOS/EoT last, cut at EOS")
    text = f"### {model_name} on {device}: {settings}\n\n{table(rows, cuda)}\n\nCommand: `{command.strip()}`\n"
    out = os.path.join(ROOT, "benchmarks", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"quantization-{tag}.json"), "w") as handle:
        json.dump(dict(command=command.strip(), device=device, settings=settings, torch=torch.__version__,
                       bitsandbytes=_version("bitsandbytes"), rows=rows), handle, indent=1)
    with open(os.path.join(out, f"quantization-{tag}.md"), "w") as handle:
        handle.write(text)
    print(f"\n{text}\nwritten to {os.path.join(out, f'quantization-{tag}')}.json / .md")


if __name__ == "__main__":
    main()
