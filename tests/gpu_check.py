"""Device check: chat.py and app.py's sampling path (generate() in a thread, callback states) on CUDA."""
import os, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
from tiny_checkpoint import make_tiny_checkpoint
path = make_tiny_checkpoint(tempfile.mkdtemp())
from modeling_llada import load_model_and_tokenizer
model, tok = load_model_and_tokenizer(path, device="cuda")
print("dtype", next(model.parameters()).dtype, model.device)
from app import Demo
demo = Demo(model, tok)
from chat import Conversation
c = Conversation(tok, demo.max_length); ids = c.add_user("hello")
for opts in ({}, {"cache": "prefix", "threshold": 0.5}, {"cfg_scale": 1.0, "temperature": 0.7}):
    settings = dict(gen_length=64, steps=32, block_length=32, temperature=0., cfg_scale=0., remasking="low_confidence")
    settings.update(opts)
    t = time.time(); kinds = []
    for kind, payload in demo.stream(ids, settings, {0: tok.encode("The")[0]}, 0.0, threading.Event()):
        kinds.append(kind)
    print(opts, kinds.count("step"), kinds[-1], f"{time.time()-t:.2f}s", tok.decode(payload[:20]) if kinds[-1]=="done" else payload)
try:
    import gradio  # noqa
    outs = list(demo.respond("hello", [], "0:The", 64, 32, 32, 0, 0, "low_confidence", 0, "none", 0))
    print("respond ok:", "Done" in outs[-1][2], outs[-1][1][-1]["content"][:60])
except ImportError:
    print("gradio not installed here: respond() not run")
r = subprocess.run([sys.executable, "chat.py", "--model", path, "--device", "cuda", "--gen_length", "32", "--steps", "16", "--block_length", "16", "--no-stream"], input="hi\nmore\n", text=True, capture_output=True, timeout=120)
print("chat rc", r.returncode, r.stdout[-400:], r.stderr[-800:])
