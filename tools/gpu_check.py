"""Device check (not collected by pytest): chat.py's and app.py's sampling path on a GPU.

    python tools/gpu_check.py                 # CUDA; exits non-zero at the first failed check
    python tools/gpu_check.py --device cpu    # the same checks on the CPU (to try the script itself)

A random tiny checkpoint (tests/tiny_models.py) is loaded on the device in the scripts' default dtype (bfloat16
on a GPU); the demo's worker-thread sampling runs in three modes, the demo's event handler once, and chat.py as a
subprocess. In float32 the device must give the CPU's greedy answer token for token.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import torch  # noqa: E402


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def stream(demo, ids, settings, constraints):
    kinds, payload = [], None
    for kind, payload in demo.stream(ids, settings, constraints, 0.0, threading.Event()):
        kinds.append(kind)
    return kinds, payload


def start(doc):
    """The command line of a device check (--device, default cuda): refuses a missing GPU, prints the versions."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("FAILED: CUDA is not available (use --device cpu to try the script on the CPU)")
    print("torch", torch.__version__, "device", args.device,
          torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "")
    return args


def main():
    args = start(__doc__)

    from app import Demo
    from prompting import Conversation
    from modeling_llada import load_model_and_tokenizer
    from tiny_models import tiny_checkpoint

    path = tiny_checkpoint(tempfile.mkdtemp(), max_sequence_length=512)
    model, tokenizer = load_model_and_tokenizer(path, device=args.device)
    expected_dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    check(model.device.type == torch.device(args.device).type and next(model.parameters()).dtype == expected_dtype,
          f"model on {model.device} in {next(model.parameters()).dtype}")
    demo = Demo(model, tokenizer)
    ids = Conversation(tokenizer, demo.max_length).add_user("hello")
    the = tokenizer.encode("The", add_special_tokens=False)[0]
    base = dict(gen_length=64, steps=32, block_length=32, temperature=0., cfg_scale=0., remasking="low_confidence")
    for options, exact_steps in (({}, True), ({"cache": "prefix", "threshold": 0.5}, False),
                                 ({"cfg_scale": 1.0, "temperature": 0.7}, True)):
        started = time.time()
        kinds, answer = stream(demo, ids, dict(base, **options), {0: the})
        steps = kinds.count("step")
        check(kinds[-1] == "done" and (steps == 32 if exact_steps else 1 <= steps <= 32),
              f"stream {options}: {steps} steps, then {kinds[-1]} ({time.time() - started:.2f} s)")
        check(answer[0] == the, f"stream {options}: the pinned token kept")
        if "threshold" in options:  # parallel decoding never commits the mask token
            check(demo.mask_id not in answer, f"stream {options}: no mask left")

    # float32 on the device: the CPU's greedy answer, token for token
    cpu_model, _ = load_model_and_tokenizer(path, device="cpu", dtype="float32")
    device_model, _ = load_model_and_tokenizer(path, device=args.device, dtype="float32")
    _, on_cpu = stream(Demo(cpu_model, tokenizer), ids, base, {})
    _, on_device = stream(Demo(device_model, tokenizer), ids, base, {})
    check(on_cpu == on_device, "float32 answer on the device equals the CPU's")

    try:
        import gradio  # noqa: F401
    except ImportError:
        print("skipped: gradio not installed here, respond() not run")
    else:
        outputs = list(demo.respond("hello", [], "0:The", 64, 32, 32, 0, 0, "low_confidence", 0))
        _, history, view = outputs[-1]
        check("Done" in view and history[-1]["role"] == "assistant" and len(outputs) == 32 + 2,
              f"respond(): 32 streamed steps, then the answer {history[-1]['content'][:40]!r}")

    result = subprocess.run([sys.executable, os.path.join(ROOT, "chat.py"), "--model", path, "--device", args.device,
                             "--gen_length", "32", "--steps", "16", "--block_length", "16", "--no_stream"],
                            input="hi\nmore\n", text=True, capture_output=True, timeout=300, cwd=ROOT)
    check(result.returncode == 0 and result.stdout.count("LLaDA: ") == 2 and "Traceback" not in result.stderr,
          f"chat.py on {args.device}: two answers, exit 0\n{result.stderr[-800:] if result.returncode else ''}")
    print("all checks passed")


if __name__ == "__main__":
    main()
