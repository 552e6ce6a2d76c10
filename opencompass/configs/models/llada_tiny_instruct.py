# The project's bundled tiny model (models/llada-tiny-instruct), CPU-sized settings: the reference sampler and,
# beside it, the fastest fast-sampling settings of generate() (dual KV cache, threshold 0.9, early exit).
from llada_opencompass import LLaDAModel

reference = dict(
    type=LLaDAModel,
    abbr='llada-tiny-instruct',
    path="bundled",
    max_seq_len=512,
    gen_steps=64,
    gen_length=64,
    gen_blocksize=32,
    batch_size_=16,
    batch_size=16,
    max_out_len=96,
    diff_confidence_eos_eot_inf=True,
    run_cfg=dict(num_gpus=0),
)
fast = dict(reference, abbr='llada-tiny-instruct-fast', cache='dual', threshold=0.9, early_exit=True)
models = [reference, fast]
