"""How well a model knows the single-digit facts inside its worked arithmetic answers.

For the first 80 held-out questions (+ and - only), the correct worked answer is placed after the prompt,
every digit that follows an '=' (step results and the final result) is masked at once, and one forward pass
fills them in; the score is the share of those digits predicted right. The operands stay visible, so this
isolates fact knowledge from the decoding order.

    python benchmarks/probe_step_digits.py [--model PATH]
"""
import argparse
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data.build_data import worked_answer  # noqa: E402
from modeling_llada import load_for_script  # noqa: E402
from prompting import encode_chat, special_ids  # noqa: E402


def result_positions(tokens):
    """Indices of the digit tokens that directly follow an '=' (skipping the space token between)."""
    positions, after_equals = [], False
    for i, token in enumerate(tokens):
        if token == "Ġ=":
            after_equals = True
        elif after_equals and token.isdigit():
            positions.append(i)
        elif token != "Ġ":
            after_equals = False
    return positions


@torch.no_grad()
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--questions", type=int, default=80, help="first N held-out questions, x skipped")
    args = parser.parse_args(argv)
    model, tokenizer = load_for_script(parser, args.model, device="cpu")
    with open(os.path.join(ROOT, "data", "arith_test.jsonl")) as handle:
        rows = [json.loads(line) for line in handle][:args.questions]
    right = total = 0
    mask_id = special_ids(model, tokenizer).mask
    for row in rows:
        if row["op"] == "x":
            continue
        prompt_ids = encode_chat(tokenizer, row["question"])
        answer_ids = tokenizer(worked_answer(row["a"], row["op"], row["b"]), add_special_tokens=False).input_ids
        answer_ids += [tokenizer.eos_token_id] * 8
        positions = [len(prompt_ids) + i for i in result_positions(tokenizer.convert_ids_to_tokens(answer_ids))]
        target = torch.tensor([prompt_ids + answer_ids])
        masked = target.clone()
        masked[0, positions] = mask_id
        predicted = model(masked).logits[0].argmax(-1)
        right += int((predicted[positions] == target[0, positions]).sum())
        total += len(positions)
    if total == 0:
        parser.error(f"the first {args.questions} held-out questions hold no + or - question; raise --questions")
    print(f"result digits right: {100 * right / total:.1f}% ({right}/{total})")


if __name__ == "__main__":
    main()
