"""Several processes through accelerate: the configs in accelerate_configs/ and a DDP run on 2 CPU processes
(gloo) that must match a single process given the same global batch."""
import os
import subprocess
import sys

import pytest
import torch
from accelerate.commands.config.config_args import ClusterConfig
from safetensors.torch import load_file

from test_train import log_rows, run_train
from tiny_models import ROOT

CONFIGS = os.path.join(ROOT, "accelerate_configs")
DIALOGUES = os.path.join(ROOT, "tests", "data", "dialogues.jsonl")


def test_accelerate_configs_load_with_the_intended_strategy():
    configs = {name: ClusterConfig.from_yaml_file(os.path.join(CONFIGS, name)) for name in sorted(os.listdir(CONFIGS))}
    assert set(configs) == {"ddp.yaml", "fsdp.yaml", "zero2.yaml", "zero3.yaml"}
    assert configs["ddp.yaml"].distributed_type == "MULTI_GPU"
    fsdp = configs["fsdp.yaml"].fsdp_config
    assert configs["fsdp.yaml"].distributed_type == "FSDP" and fsdp["fsdp_version"] == 2
    assert fsdp["fsdp_reshard_after_forward"] is True and fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp["fsdp_transformer_layer_cls_to_wrap"] == "LLaDABlock"
    assert fsdp["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"
    for name, stage in (("zero2.yaml", 2), ("zero3.yaml", 3)):
        assert configs[name].distributed_type == "DEEPSPEED" and configs[name].deepspeed_config["zero_stage"] == stage
    assert configs["zero3.yaml"].deepspeed_config["zero3_save_16bit_model"] is True


def launch(processes, out, common, batch_size):
    """train.py on `processes` CPU processes through accelerate_configs/ddp.yaml, or plainly for one; its log rows."""
    result = run_train(*common, "--batch_size", batch_size, "--out", out, processes=processes)
    assert result.returncode == 0, result.stderr[-3000:]
    return log_rows(out)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path, checkpoint, lora):
    """Multi-turn SFT (turn sampling, EOS padding to the global batch's longest, masking noise drawn for the global
    batch): 2 processes x 4 rows give the single process's 8-row losses, tokens and weights."""
    common = ["--stage", "sft", "--data", DIALOGUES, "--eval_data", DIALOGUES, "--init", checkpoint, "--seq_len", "160",
              "--max_steps", "3", "--save_every", "3", "--eval_every", "3", "--eval_batches", "1", "--log_every", "1",
              "--lr", "1e-2", "--warmup_steps", "1", "--threads", "1"]
    if lora:
        common += ["--lora_r", "4", "--lora_dropout", "0", "--gradient_checkpointing"]
    single = launch(1, tmp_path / "single", common, batch_size=8)
    double = launch(2, tmp_path / "double", common, batch_size=4)
    assert [row[:4] for row in double] == [row[:4] for row in single]  # step, loss (5 decimals), lr, tokens
    weights = "adapter_model.safetensors" if lora else "model.safetensors"
    expected = load_file(tmp_path / "single" / "final" / weights)
    final = load_file(tmp_path / "double" / "final" / weights)
    for name, tensor in expected.items():  # float sums in another order; AdamW magnifies that on near-zero grads
        torch.testing.assert_close(final[name], tensor, rtol=1e-4, atol=1e-4, msg=name)


FSDP2_SCRIPT = """
import sys
import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard
sys.path[:0] = [{root!r}, {tests!r}]
from tiny_models import tiny_config
from modeling_llada import LLaDAModelLM
from train import diffusion_loss

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
sharded, whole = LLaDAModelLM(tiny_config()).train(), LLaDAModelLM(tiny_config()).train()
whole.load_state_dict(sharded.state_dict())
sharded.gradient_checkpointing_enable()
for block in sharded.model.transformer.blocks:  # what fsdp.yaml asks of accelerate: one unit per LLaDABlock
    fully_shard(block)
fully_shard(sharded)
input_ids = torch.randint(0, 60, (8, 16), generator=torch.Generator().manual_seed(1))
torch.manual_seed(5)
loss = diffusion_loss(sharded, input_ids[rank * 4:(rank + 1) * 4], None, 60, shard=(rank, world))
loss.backward()
torch.manual_seed(5)
expected = diffusion_loss(whole, input_ids, None, 60)
expected.backward()
dist.all_reduce(loss)
gradients = {{name: p.grad.full_tensor() for name, p in sharded.named_parameters()}}
for name, p in whole.named_parameters():
    torch.testing.assert_close(gradients[name], p.grad, rtol=1e-5, atol=1e-6)
torch.testing.assert_close(loss / world, expected)
dist.destroy_process_group()
"""


def test_fsdp2_shards_by_llada_block_on_two_cpu_processes(tmp_path):
    """accelerate (1.15) enables FSDP only on GPUs; on the CPU its FSDP config runs as plain DDP. This checks the
    model itself under torch's FSDP2 on gloo, wrapped as accelerate_configs/fsdp.yaml wraps it (each LLaDABlock a
    unit) with gradient checkpointing: the same loss and gradients as one process on the whole batch."""
    script = tmp_path / "fsdp2_check.py"
    script.write_text(FSDP2_SCRIPT.format(root=ROOT, tests=os.path.join(ROOT, "tests")))
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
