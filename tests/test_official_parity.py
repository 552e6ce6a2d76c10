"""Parity with the official model code, and loading as remote code.

tests/data/official_llada_logits.json holds logits that the official GSAI-ML/LLaDA-8B-Instruct modeling_llada.py
produced for tiny configs in the official config format, with and without grouped-query attention
(tools/make_official_golden.py made them; the official file itself is not in this repository). This repository's
model, given the same tensors by name, must give the same logits."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from tiny_models import ROOT, tiny_model
from modeling_llada import LLaDAConfig, LLaDAModelLM

sys.path.insert(0, os.path.join(ROOT, "tools"))
from make_official_golden import recipe_weights  # noqa: E402

GOLDEN = os.path.join(ROOT, "tests", "data", "official_llada_logits.json")


@pytest.fixture(scope="module")
def golden():
    with open(GOLDEN) as f:
        return json.load(f)


def model_with_recipe_weights(config_fields, seed):
    model = LLaDAModelLM(LLaDAConfig(**config_fields)).eval()
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    model.load_state_dict(recipe_weights(shapes, seed), strict=True)
    return model


@pytest.mark.parametrize("case", ["mha", "gqa"])
def test_logits_equal_the_official_code(golden, case):
    entry = golden["cases"][case]
    model = model_with_recipe_weights(entry["config"], golden["seed"])
    assert sorted(model.state_dict()) == entry["tensor_names"]  # the official tensor names, no more, no fewer
    assert model.config.n_kv_heads == {"mha": 4, "gqa": 2}[case]
    ids = torch.tensor(golden["input_ids"])
    expected = torch.tensor(entry["logits"])
    with torch.no_grad():
        logits = model(ids).logits
        with_mask = model(ids, attention_mask=torch.ones_like(ids)).logits
    # float32 on both sides; the golden values carry 7 significant digits (the true difference is ~3e-6)
    torch.testing.assert_close(logits, expected, atol=2e-5, rtol=0)
    torch.testing.assert_close(with_mask, expected, atol=2e-5, rtol=0)
    # the logits discriminate: many different argmax tokens per row
    assert all(len(set(row.tolist())) >= 7 for row in expected.argmax(-1))


def test_saved_checkpoint_loads_as_remote_code_through_auto_map(tmp_path):
    """save_pretrained writes an auto_map; with the two model files copied next to the checkpoint, a process that
    has never imported this repository loads it with trust_remote_code=True through AutoModel and
    AutoModelForMaskedLM (the classes come from the copied files) and gets the same logits."""
    model = tiny_model(n_kv_heads=2)
    checkpoint = tmp_path / "checkpoint"
    model.save_pretrained(checkpoint)
    for name in ("configuration_llada.py", "modeling_llada.py"):
        shutil.copy(os.path.join(ROOT, name), checkpoint / name)
    ids = torch.randint(0, 60, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.save({"ids": ids, "logits": model(ids).logits}, tmp_path / "expected.pt")
    assert json.loads((checkpoint / "config.json").read_text())["auto_map"]["AutoModel"] == \
        "modeling_llada.LLaDAModelLM"
    script = f"""
import sys, torch
from transformers import AutoModel, AutoModelForMaskedLM
torch.set_num_threads(1)  # as in the test process (conftest), so that the matmuls reduce in the same order
assert not any(p and p.rstrip("/") == {ROOT!r} for p in sys.path)
expected = torch.load({str(tmp_path / "expected.pt")!r})
for auto_class in (AutoModel, AutoModelForMaskedLM):
    model = auto_class.from_pretrained({str(checkpoint)!r}, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    assert type(model).__name__ == "LLaDAModelLM"
    with torch.no_grad():
        # another process may take other SIMD code paths for the same matmuls: equal up to float rounding
        torch.testing.assert_close(model(expected["ids"]).logits, expected["logits"], rtol=1e-5, atol=1e-5)
    print(auto_class.__name__, "ok")
"""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path), env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["AutoModel", "ok", "AutoModelForMaskedLM", "ok"]
