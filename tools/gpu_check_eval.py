"""Device check (not collected by pytest): the evaluation code paths on a GPU in bfloat16 and float32, with a
random tiny model.

    python tools/gpu_check_eval.py                 # CUDA; exits non-zero at the first failed check
    python tools/gpu_check_eval.py --device cpu    # the same checks on the CPU (to try the script itself)

lm-eval may be absent on the device machine: a stand-in for its two imports lets eval_llada load.
"""
import math
import os
import subprocess
import sys
import tempfile
import types

import torch

from gpu_check import ROOT, check, start  # importing it puts the repository and tests/ on sys.path


def stand_in_for_lm_eval():
    try:
        import lm_eval.api.model  # noqa: F401
        return
    except ImportError:
        pass

    class LM:
        def __init__(self):
            self.cache_hook = types.SimpleNamespace(add_partial=lambda *a: None)

    api, model_module = types.ModuleType("lm_eval.api"), types.ModuleType("lm_eval.api.model")
    registry = types.ModuleType("lm_eval.api.registry")
    model_module.LM, registry.register_model = LM, (lambda name: (lambda cls: cls))
    sys.modules.update({"lm_eval": types.ModuleType("lm_eval"), "lm_eval.api": api, "lm_eval.api.model": model_module,
                        "lm_eval.api.registry": registry})
    print("lm_eval absent: stand-in used")


def main():
    args = start(__doc__)
    stand_in_for_lm_eval()
    from eval_llada import LLaDAEvalHarness
    from tiny_models import tiny_checkpoint

    path = tiny_checkpoint(tempfile.mkdtemp(), weights="init")
    request = lambda *a: types.SimpleNamespace(args=a)  # noqa: E731
    pairs = [request("What is 12 + 30?", f" 12 + 30 = {v}.") for v in (42, 41, 52)] + [request("Hi", " there friend")]
    text = "Friends, Romans, countrymen. " * 30
    generations = [request("What is 2 + 2?", {"until": ["\n"], "max_gen_toks": 8}),
                   request("Hello there", {"until": [], "max_gen_toks": 32})]
    scores = {}
    for dtype in ("bfloat16", "float32"):
        harness = LLaDAEvalHarness(model_path=path, mc_num=16, batch_size=8, gen_length=32, steps=16, block_length=16,
                                   device=args.device, dtype=dtype)
        check(harness.model.device.type == torch.device(args.device).type
              and next(harness.model.parameters()).dtype == getattr(torch, dtype), f"{dtype}: model placed")
        together = harness.loglikelihood(pairs)
        alone = [harness.loglikelihood([r])[0] for r in pairs]
        check(together == alone and all(math.isfinite(s) and s < 0 for s, _ in together),
              f"{dtype}: loglikelihood {[round(s, 3) for s, _ in together]}, the same one request at a time")
        scores[dtype] = [s for s, _ in together]
        harness.cfg = 0.5
        guided = [s for s, _ in harness.loglikelihood(pairs[:2])]
        harness.cfg = 0.0
        check(all(math.isfinite(s) for s in guided) and guided != scores[dtype][:2], f"{dtype}: cfg 0.5 {guided}")
        (rolling,) = harness.loglikelihood_rolling([request(text)])
        check(math.isfinite(rolling) and rolling < 0, f"{dtype}: rolling {rolling:.2f}")
        answers = harness.generate_until(generations)
        check(all(isinstance(a, str) for a in answers) and "\n" not in answers[0], f"{dtype}: generation {answers}")

    cpu = LLaDAEvalHarness(model_path=path, mc_num=16, batch_size=8, gen_length=32, steps=16, block_length=16,
                           device="cpu", dtype="float32")
    on_cpu = [s for s, _ in cpu.loglikelihood(pairs)]
    check(all(abs(a - b) <= 1e-3 * abs(b) for a, b in zip(scores["float32"], on_cpu)),
          f"float32 likelihoods on {args.device} equal the CPU's {[round(s, 3) for s in on_cpu]}")
    check(all(abs(a - b) <= 0.05 * abs(b) for a, b in zip(scores["bfloat16"], on_cpu)),
          "bfloat16 likelihoods within 5% of float32")

    output = os.path.join(tempfile.mkdtemp(), "rev.jsonl")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "eval_reverse.py"), "--model", path, "--device",
                             args.device, "--type", "btf", "--split", "heldout", "--limit", "8", "--gen_length", "16",
                             "--block_length", "8", "--cfg", "0.5", "--output", output],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    rows = open(output).read().splitlines() if os.path.exists(output) else []
    check(result.returncode == 0 and "accuracy:" in result.stdout and len(rows) == 8,
          f"eval_reverse.py on {args.device}: 8 answers and the accuracy line\n"
          f"{result.stderr[-1500:] if result.returncode else ''}")
    print("all checks passed")


if __name__ == "__main__":
    main()
