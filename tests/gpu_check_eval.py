"""Device check (not a pytest file): the evaluation code paths on CUDA in bfloat16 with a random tiny model.
lm-eval may be absent on the device machine: a stand-in for its two imports lets eval_llada load."""
import os, subprocess, sys, tempfile, types
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0))
try:
    import lm_eval.api.model  # noqa: F401
except ImportError:
    class LM:
        def __init__(self):
            self.cache_hook = types.SimpleNamespace(add_partial=lambda *a: None)
    api = types.ModuleType("lm_eval.api"); model_mod = types.ModuleType("lm_eval.api.model"); reg = types.ModuleType("lm_eval.api.registry")
    model_mod.LM = LM; reg.register_model = lambda name: (lambda cls: cls)
    sys.modules.update({"lm_eval": types.ModuleType("lm_eval"), "lm_eval.api": api, "lm_eval.api.model": model_mod,
                        "lm_eval.api.registry": reg})
    print("lm_eval absent: stand-in used")
from eval_helpers import make_random_model
from eval_llada import LLaDAEvalHarness
path = make_random_model(tempfile.mkdtemp())
R = lambda *a: types.SimpleNamespace(args=a)
for dtype in ("bfloat16", "float32"):
    h = LLaDAEvalHarness(model_path=path, mc_num=16, batch_size=8, gen_length=32, steps=16, block_length=16, device="cuda", dtype=dtype)
    print(dtype, h.model.device, next(h.model.parameters()).dtype)
    reqs = [R("What is 12 + 30?", f" 12 + 30 = {v}.") for v in (42, 41, 52)] + [R("Hi", " there friend")]
    together = h.loglikelihood(reqs); alone = [h.loglikelihood([r])[0] for r in reqs]
    print(" ll", [round(s, 3) for s, _ in together], "same alone:", together == alone)
    h.cfg = 0.5; print(" ll cfg", [round(s, 3) for s, _ in h.loglikelihood(reqs[:2])]); h.cfg = 0.0
    print(" rolling", h.loglikelihood_rolling([R("Friends, Romans, countrymen. " * 30)]))
    print(" gen", h.generate_until([R("What is 2 + 2?", {"until": ["\n"], "max_gen_toks": 8}), R("Hello there", {"until": [], "max_gen_toks": 32})]))
r = subprocess.run([sys.executable, "eval_reverse.py", "--model", path, "--device", "cuda", "--type", "btf", "--split", "heldout",
                    "--limit", "8", "--gen_length", "16", "--block_length", "8", "--cfg", "0.5", "--output", "/tmp/rev.jsonl"],
                   capture_output=True, text=True, timeout=300)
print("eval_reverse rc", r.returncode, r.stdout[-300:], r.stderr[-1500:] if r.returncode else "")
