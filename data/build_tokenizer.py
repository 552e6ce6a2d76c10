"""Build the small byte-level BPE tokenizer of the project's tiny LLaDA model.

It uses LLaDA's special-token names (``<|startoftext|>``, ``<|endoftext|>``, ``<|mdm_mask|>``,
``<|start_header_id|>``, ``<|end_header_id|>``, ``<|eot_id|>``), splits every digit into its own
token, never adds BOS by itself, and carries a chat template that renders like
LLaDA-8B-Instruct's.

Usage:  python data/build_tokenizer.py [--vocab-size 2048] [--data data/] [--out data/tokenizer/]
(run ``python data/build_data.py`` first).

From Python:  ``from data.build_tokenizer import build_tokenizer``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterable

HERE = Path(__file__).resolve().parent

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
MASK = "<|mdm_mask|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOT = "<|eot_id|>"
SPECIAL_TOKENS = [BOS, EOS, MASK, START_HEADER, END_HEADER, EOT]

# BOS once, then one header+content+EoT block per message (content stripped);
# the generation prompt opens an assistant header.
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' -}}"
    "{{- message['content'] | trim -}}"
    "{{- '<|eot_id|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}"
    "{%- endif -%}"
)


def build_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    """Train a byte-level BPE on ``texts``; return a transformers PreTrainedTokenizerFast."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Newline runs are isolated first so that "\n\n" is the same token whatever follows it
    # (the chat header "...<|end_header_id|>\n\n" then tokenizes identically in a full
    # conversation and in a generation prompt); then one token per digit; then byte-level.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\n+"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        mask_token=MASK,
        additional_special_tokens=[START_HEADER, END_HEADER, EOT],
        add_bos_token=False,
        add_eos_token=False,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def corpus_texts(data_dir: Path):
    """Yield the pretraining texts and every SFT message of ``data_dir`` (each message with its
    role and the blank line the chat template puts before it, so those merge well)."""
    with open(data_dir / "pretrain.jsonl", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]
    with open(data_dir / "sft.jsonl", encoding="utf-8") as f:
        for line in f:
            for m in json.loads(line)["messages"]:
                yield m["role"] + "\n\n" + m["content"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--data", type=Path, default=HERE, help="folder with pretrain.jsonl, sft.jsonl")
    p.add_argument("--out", type=Path, default=HERE / "tokenizer")
    args = p.parse_args(argv)

    tok = build_tokenizer(corpus_texts(args.data), args.vocab_size)
    tok.save_pretrained(str(args.out))
    print(f"saved {type(tok).__name__} with {len(tok)} tokens to {args.out}")
    print({name: tok.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS})
    conv = [{"role": "user", "content": "What is 47 + 38?"},
            {"role": "assistant", "content": "7 + 8 = 15, carry 1. 4 + 3 + 1 = 8. 47 + 38 = 85."}]
    print(repr(tok.apply_chat_template(conv, tokenize=False)))


if __name__ == "__main__":
    main()
