"""Peak memory and speed of one fine-tuning step: full, full + gradient checkpointing, LoRA, LoRA + checkpointing.

Each (mode, sequence length) runs in its own subprocess, so one mode's peak cannot hide in another's. A step is
train.py's: the masked diffusion loss (train.diffusion_loss, every position maskable) on random tokens,
backward, AdamW step over the trainable parameters. LoRA uses train.py's default targets (the seven linear
layers of every block, rank --lora-r, alpha 2 x rank).

  python benchmarks/bench_finetune_memory.py                  # bundled models/llada-tiny-instruct, CPU, float32
  python benchmarks/bench_finetune_memory.py --device cuda    # random LLaDA-8B shape, bf16, sequences 4096 and 2048

What is measured:
- CPU: peak resident memory of the process (getrusage ru_maxrss: everything the process held, the Python and torch
  runtime included), and that peak minus the resident memory once the model and optimizer were built, which is what
  training itself added (activations, gradients, AdamW states, allocator slack);
- CUDA: torch.cuda.max_memory_allocated (tensors only: weights included, CUDA context and allocator cache not),
  and the same minus the memory allocated before the first step;
- tokens/s: batch x sequence length over the median step time, the first (warm-up) step left out.
On the GPU the weights, gradients and AdamW states are bf16, as train.py holds a bf16 checkpoint such as
LLaDA-8B's (loaded in its own dtype); a mode that does not fit is reported as OOM.

Prints a table and writes benchmarks/results/finetune-memory-<tag>.json.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from modeling_llada import DEFAULT_MODEL, LLaDAModelLM  # noqa: E402
from train import LORA_LAYERS, diffusion_loss, lora_target_modules  # noqa: E402

MODES = ("full", "full+ckpt", "lora", "lora+ckpt")
MIB = 2 ** 20


def resident_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(args, mode, seq_len):
    """One mode at one length in this process; returns its row."""
    torch.manual_seed(0)
    if args.device == "cuda":
        from bench_generate import random_8b
        model = random_8b("cuda")[0]
    else:
        model = LLaDAModelLM.from_pretrained(args.model)
    model.train()
    if mode.endswith("+ckpt"):
        getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
    if mode.startswith("lora"):
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r,
                                                 target_modules=lora_target_modules(LORA_LAYERS)))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    config = model.config
    vocabulary = [t for t in range(config.vocab_size) if t != config.mask_token_id]
    input_ids = torch.tensor(vocabulary)[torch.randint(len(vocabulary), (args.batch_size, seq_len))].to(args.device)
    before = torch.cuda.memory_allocated() if args.device == "cuda" else resident_bytes()
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        diffusion_loss(model, input_ids, None, config.mask_token_id).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(mode=mode, seq_len=seq_len, batch_size=args.batch_size, trainable=sum(p.numel() for p in trainable),
                peak_mib=round(peak / MIB, 1), added_mib=round((peak - before) / MIB, 1),
                tokens_per_s=round(args.batch_size * seq_len / statistics.median(times[1:]), 1))


def run_in_subprocess(args, mode, seq_len):
    command = [sys.executable, os.path.abspath(__file__), "--worker", mode, str(seq_len), "--device", args.device,
               "--model", args.model, "--batch-size", str(args.batch_size), "--steps", str(args.steps),
               "--lora-r", str(args.lora_r), "--threads", str(args.threads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        out_of_memory = "OutOfMemoryError" in result.stderr or "out of memory" in result.stderr
        if not out_of_memory:
            print(result.stderr[-2000:], file=sys.stderr)
        return dict(mode=mode, seq_len=seq_len, batch_size=args.batch_size,
                    error="OOM" if out_of_memory else f"failed (exit {result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows, device):
    unit = "allocated" if device == "cuda" else "RSS"
    lines = [f"| mode | seq_len | batch | trainable params | peak {unit} (MiB) | added by training (MiB) | tokens/s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['mode']} | {r['seq_len']} | {r['batch_size']} | | {r['error']} | | |")
        else:
            lines.append(f"| {r['mode']} | {r['seq_len']} | {r['batch_size']} | {r['trainable']:,} "
                         f"| {r['peak_mib']:,.0f} | {r['added_mib']:,.0f} | {r['tokens_per_s']:,.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cpu: the --model checkpoint in float32; cuda: random LLaDA-8B-shaped weights in bf16")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint for --device cpu (default: the bundled one)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--seq-lens", type=int, nargs="+", default=None, help="default: 640 (cpu), 4096 2048 (cuda)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 16 (cpu), 1 (cuda)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--tag", default=None, help="results file name (default: cpu-<model> or cuda-random-8b)")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "SEQ_LEN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.steps < 1 or args.lora_r < 1 or args.threads < 1 or (args.batch_size is not None and args.batch_size < 1):
        parser.error("--steps, --lora-r, --threads and --batch-size must be positive")
    if args.batch_size is None:
        args.batch_size = 1 if args.device == "cuda" else 16
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(measure(args, args.worker[0], int(args.worker[1]))))
        return
    seq_lens = args.seq_lens or ([4096, 2048] if args.device == "cuda" else [640])
    rows = []
    for seq_len in seq_lens:
        for mode in args.modes:
            rows.append(run_in_subprocess(args, mode, seq_len))
            print(table(rows[-1:], args.device).splitlines()[-1], flush=True)
    tag = args.tag or ("cuda-random-8b" if args.device == "cuda"
                       else f"cpu-{os.path.basename(os.path.normpath(args.model))}")
    command = "python benchmarks/bench_finetune_memory.py " + " ".join(sys.argv[1:])
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {args.threads} threads"
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    path = os.path.join(ROOT, "benchmarks", "results", f"finetune-memory-{tag}.json")
    with open(path, "w") as handle:
        json.dump(dict(command=command.strip(), device=device, torch=torch.__version__, rows=rows), handle, indent=1)
    print(f"\n{device}, {command.strip()}\n\n{table(rows, args.device)}\n\nwritten to {path}")


if __name__ == "__main__":
    main()
