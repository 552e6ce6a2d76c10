"""Golden logits of the official LLaDA model code, for tests/test_official_parity.py.

The official model file is the remote code of GSAI-ML/LLaDA-8B-Instruct on the Hugging Face hub
(modeling_llada.py and configuration_llada.py, from the OLMo code base). This script does not contain it: pass
the directory that holds those two files,

    python tools/make_official_golden.py /path/to/dir_with_official_files [--out tests/data/official_llada_logits.json]

It imports them as a package from that directory, builds tiny models (with and without grouped-query attention)
in the official config format, fills every tensor from a seeded recipe (`recipe_weights`, which the test uses
to give this repository's model the same weights by tensor name), runs token ids through the official
`LLaDAModel` in float32 and writes the config, seed, inputs and logits as JSON. Nothing of the official code is
stored.
"""
import argparse
import importlib
import json
import os
import sys

import torch

SEED = 1234
CASES = {
    "mha": dict(n_heads=4, n_kv_heads=4),
    "gqa": dict(n_heads=4, n_kv_heads=2),
}
# The official 8B config.json's fields, scaled down (d_model 32, 2 layers, a 64-token vocabulary).
BASE_CONFIG = dict(
    d_model=32, n_layers=2, mlp_hidden_size=64, mlp_ratio=4, vocab_size=64, embedding_size=64,
    max_sequence_length=256, rope=True, rope_theta=500000.0, rope_full_precision=True, activation_type="silu",
    block_type="llama", layer_norm_type="rms", rms_norm_eps=1e-5, layer_norm_with_affine=True,
    bias_for_layer_norm=False, include_bias=False, include_qkv_bias=False, weight_tying=False,
    attention_layer_norm=False, alibi=False, scale_logits=False, input_emb_norm=False, block_group_size=1,
    attention_dropout=0.0, embedding_dropout=0.0, residual_dropout=0.0, init_device="cpu", init_fn="mitchell",
    init_std=0.02, flash_attention=False, multi_query_attention=None, mask_token_id=60, eos_token_id=61,
    pad_token_id=61,
)


def recipe_weights(shapes, seed=SEED):
    """{tensor name: tensor} for {name: shape}: norm weights 1 + 0.3 N(0, 1), matrices 2.5 N(0, 1) / sqrt(fan-in)
    (sharper than an init, so that the logits vary from position to position), drawn in sorted name order."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for name in sorted(shapes):
        shape = tuple(shapes[name])
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
        weights[name] = 1 + 0.3 * noise if len(shape) == 1 else noise * 2.5 / shape[-1] ** 0.5
    return weights


def input_ids(seed=SEED):
    """Two rows of 12 token ids, the mask token (60) among them."""
    generator = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, 60, (2, 12), generator=generator)
    ids[0, 5] = ids[1, 2] = ids[1, 9] = 60
    return ids


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("official_dir", help="directory with the official modeling_llada.py and configuration_llada.py")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                      "tests", "data", "official_llada_logits.json"))
    args = parser.parse_args(argv)
    directory = os.path.abspath(args.official_dir)
    for name in ("modeling_llada.py", "configuration_llada.py"):
        if not os.path.isfile(os.path.join(directory, name)):
            parser.error(f"{directory} has no {name}")
    # the official modeling file imports its config relatively: load both as a package named after the folder
    sys.path.insert(0, os.path.dirname(directory))
    package = os.path.basename(directory)
    if not os.path.isfile(os.path.join(directory, "__init__.py")):
        parser.error(f"{directory} needs an empty __init__.py (the official file imports .configuration_llada)")
    configuration = importlib.import_module(f"{package}.configuration_llada")
    modeling = importlib.import_module(f"{package}.modeling_llada")

    torch.set_num_threads(1)
    ids = input_ids()
    result = dict(seed=SEED, input_ids=ids.tolist(), cases={},
                  note="logits of the official GSAI-ML/LLaDA-8B-Instruct model code (float32, CPU, no attention "
                       "mask) with weights from tools/make_official_golden.py:recipe_weights(seed)")
    for case, heads in CASES.items():
        fields = dict(BASE_CONFIG, **heads)
        model = modeling.LLaDAModelLM(configuration.LLaDAConfig(**fields)).eval()
        shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
        model.load_state_dict(recipe_weights(shapes), strict=True)
        with torch.no_grad():
            logits = model.model(ids).logits.float()
        rounded = [[[float(f"{v:.7g}") for v in position] for position in row] for row in logits.tolist()]
        result["cases"][case] = dict(config=fields, tensor_names=sorted(shapes), logits=rounded)
        argmax = logits.argmax(-1)
        print(f"{case}: logits {tuple(logits.shape)}, distinct argmax per row "
              f"{[len(set(row.tolist())) for row in argmax]}")
    with open(args.out, "w") as f:
        json.dump(result, f)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
