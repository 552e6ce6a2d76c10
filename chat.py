"""Multi-round chat with a LLaDA model in the terminal, the answer denoising in place as it is sampled.

    python chat.py                                # the bundled tiny model
    python chat.py --model GSAI-ML/LLaDA-8B-Instruct --gen_length 256 --steps 256 --block_length 32

The conversation is kept as token ids rendered by the tokenizer's chat template. Each answer is cut at
its first EOS or EoT token and closed with <|eot_id|> the way the template closes a turn, so the prompt
of every turn is exactly what the template renders for the whole conversation. When the conversation no
longer fits the model's context, the oldest exchanges are dropped (with a notice).

Commands: /reset starts a new conversation, /quit (or Ctrl-D, Ctrl-C) leaves. An empty line is ignored.
Sampling goes through generate() (one sampler in the project); its per-step callback feeds the display.
"""

import argparse
import shutil
import sys
import unicodedata

import torch

from generate import REMASKING, finite_float, generate
from modeling_llada import add_loading_args, check_user_text, loading_options

MASK_GLYPH = "░"
EOT_TOKEN = "<|eot_id|>"


def special_ids(model, tokenizer):
    """(mask_id, eos_id, eot_id) from the model config and tokenizer, never literals. A tokenizer without
    <|eot_id|> gets EOS as its end-of-turn token."""
    config = model.config
    mask_id = getattr(config, "mask_token_id", None)
    if mask_id is None:
        mask_id = tokenizer.mask_token_id
    if mask_id is None:
        raise ValueError("neither the model config nor the tokenizer names a mask token id")
    eos_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else config.eos_token_id
    eot_id = tokenizer.convert_tokens_to_ids(EOT_TOKEN)
    if eot_id is None or eot_id == tokenizer.unk_token_id:
        eot_id = eos_id
    return mask_id, eos_id, eot_id


def cut_answer(answer_ids, stop_ids):
    """The answer's token ids up to (excluding) the first stop token (EOS / EoT)."""
    answer_ids = [int(t) for t in answer_ids]
    for i, token in enumerate(answer_ids):
        if token in stop_ids:
            return answer_ids[:i]
    return answer_ids


class Conversation:
    """A chat as messages plus the token ids the chat template renders for them.

    `prompt_ids` is always tokenizer(apply_chat_template(messages, add_generation_prompt=True)); new turns
    extend the ids already held (the template renders a conversation as the concatenation of its turns).
    """

    def __init__(self, tokenizer, max_length=None):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.reset()

    def reset(self):
        self.messages = []
        self.ids = []  # ids of the closed turns (after an answer), or of the pending prompt

    def _render(self, messages, add_generation_prompt):
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt,
                                                  tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _extend(self, add_generation_prompt):
        ids = self._render(self.messages, add_generation_prompt)
        if ids[:len(self.ids)] != self.ids:  # a template that rewrites earlier turns: take its rendering
            self.ids = ids
        else:
            self.ids = self.ids + ids[len(self.ids):]

    def add_user(self, text):
        """Append a user turn and the assistant's generation prompt. Returns the prompt ids. ValueError (and
        nothing appended) when the text holds a control token of the chat format."""
        check_user_text(self.tokenizer, text)
        self.messages.append({"role": "user", "content": text})
        self._extend(add_generation_prompt=True)
        return self.ids

    def add_answer(self, answer_ids, stop_ids, skip_ids=()):
        """Close the pending assistant turn with a sampled answer: cut at the first stop token, decode, and
        append the turn as the template writes it (content + <|eot_id|>). Returns the answer text."""
        kept = [t for t in cut_answer(answer_ids, stop_ids) if t not in skip_ids]
        text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
        self.messages.append({"role": "assistant", "content": text})
        self._extend(add_generation_prompt=False)
        return text

    def drop_pending_user(self):
        """Forget a user turn that got no answer (e.g. sampling was interrupted or failed)."""
        if self.messages and self.messages[-1]["role"] == "user":
            self.messages.pop()
            self.ids = self._render(self.messages, False) if self.messages else []

    def fit(self, gen_length):
        """Drop the oldest exchanges until prompt + gen_length fits max_length. Returns the number of
        messages dropped; raises ValueError if the newest user turn alone does not fit.

        Linear in the conversation: each message is rendered once to learn its length (the template renders
        a conversation as the concatenation of its turns after a fixed prefix), the number to drop is read
        off the running sums, and the kept messages are rendered once (then checked, dropping more if a
        template does not add up)."""
        if self.max_length is None or len(self.ids) + gen_length <= self.max_length:
            return 0
        alone = len(self._render(self.messages[-1:], add_generation_prompt=True))
        if alone + gen_length > self.max_length:  # keep the history; forget only the message that cannot fit
            self.drop_pending_user()
            raise ValueError(f"the message is too long: its prompt takes {alone} tokens, and with gen_length "
                             f"{gen_length} that passes the model's limit of {self.max_length} tokens; send a "
                             f"shorter message or lower gen_length")
        one = len(self._render(self.messages[-1:], False))
        prefix = 2 * one - len(self._render(self.messages[-1:] * 2, False))  # what the template writes once
        earlier = self.messages[:-1]
        sizes = [len(self._render([m], False)) - prefix for m in earlier]
        remaining = alone + sum(sizes)
        dropped = 0
        while remaining + gen_length > self.max_length and dropped < len(earlier):
            # drop the oldest message and, if it was a user turn, the answer to it
            drop = 2 if len(earlier) - dropped > 1 and earlier[dropped + 1]["role"] == "assistant" else 1
            remaining -= sum(sizes[dropped:dropped + drop])
            dropped += drop
        self.messages = self.messages[dropped:]
        self.ids = self._render(self.messages, add_generation_prompt=True)
        while len(self.ids) + gen_length > self.max_length and len(self.messages) > 1:
            self.messages = self.messages[1:]
            dropped += 1
            self.ids = self._render(self.messages, add_generation_prompt=True)
        return dropped


def model_max_length(model):
    return getattr(model.config, "max_sequence_length", None)


def render_canvas(tokenizer, answer_ids, mask_id, stop_ids, mask_glyph=MASK_GLYPH):
    """Text of a partly denoised answer: decoded tokens, one glyph per mask, stopping at the first committed
    stop token (the final answer is cut there too)."""
    pieces, run = [], []
    for token in answer_ids:
        token = int(token)
        if token in stop_ids:
            break
        if token == mask_id:
            if run:
                pieces.append(tokenizer.decode(run, skip_special_tokens=True))
                run = []
            pieces.append(mask_glyph)
        else:
            run.append(token)
    if run:
        pieces.append(tokenizer.decode(run, skip_special_tokens=True))
    return "".join(pieces)


def display_width(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1
               for c in text)


class InPlaceWriter:
    """Redraws a block of text in place on a terminal (cursor up + clear to end of screen)."""

    def __init__(self, stream):
        self.stream = stream
        self.rows = 0

    def _rows(self, text):
        columns = max(shutil.get_terminal_size((80, 24)).columns, 1)
        return sum(max(1, -(-display_width(line) // columns)) for line in text.split("\n"))

    def clear(self):
        if self.rows:
            self.stream.write("\r" + (f"\x1b[{self.rows - 1}A" if self.rows > 1 else "") + "\x1b[J")
        self.rows = 0

    def draw(self, text):
        self.clear()
        self.stream.write(text)
        self.stream.flush()
        # a line filled exactly to the last column leaves the cursor on it: counting rows this way is safe
        self.rows = self._rows(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Chat with a LLaDA model in the terminal.",
                                     epilog="Commands: /reset (new conversation), /quit. Ctrl-D or Ctrl-C exit.")
    parser.add_argument("--model", default=None, help="HF id or local path (default: the bundled tiny model)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the first available)")
    parser.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"),
                        help="default: bfloat16 on a GPU, float32 on the CPU")
    parser.add_argument("--adapter", default=None,
                        help="a LoRA adapter directory (train.py --lora_r), merged into --model (default: its base)")
    parser.add_argument("--gen_length", type=int, default=128, help="answer length in tokens (default 128)")
    parser.add_argument("--steps", type=int, default=128, help="sampling steps (default 128)")
    parser.add_argument("--block_length", type=int, default=32, help="semi-autoregressive block (default 32)")
    parser.add_argument("--temperature", type=finite_float, default=0., help="0 = greedy (default)")
    parser.add_argument("--cfg_scale", type=finite_float, default=0., help="classifier-free guidance (default 0)")
    parser.add_argument("--remasking", choices=REMASKING, default="low_confidence")
    parser.add_argument("--logits_eos_inf", action="store_true", help="forbid EOS in the answer")
    parser.add_argument("--confidence_eos_eot_inf", action="store_true",
                        help="commit EOS/EoT predictions last in each block (paper App. B.4)")
    parser.add_argument("--cache", choices=("prefix", "dual"), default=None,
                        help="fast sampling: Fast-dLLM's approximate block-wise KV cache (default: none)")
    parser.add_argument("--threshold", type=finite_float, default=None,
                        help="fast sampling: commit every masked position above this confidence at each step")
    parser.add_argument("--seed", type=int, default=None, help="random seed (for temperature > 0 or random "
                                                               "remasking)")
    parser.add_argument("--no-stream", "--no_stream", dest="stream", action="store_false",
                        help="print only the final answers (automatic when stdout is not a terminal)")
    args = add_loading_args(parser).parse_args(argv)
    if args.gen_length <= 0 or args.steps <= 0 or args.block_length <= 0:
        parser.error("gen_length, steps and block_length must be positive")
    if args.gen_length % args.block_length:
        parser.error(f"--gen_length {args.gen_length} must be a multiple of --block_length {args.block_length}")
    blocks = args.gen_length // args.block_length
    if args.steps % blocks:
        parser.error(f"--steps {args.steps} must be a multiple of the number of blocks ({blocks} = "
                     f"gen_length / block_length)")
    if args.temperature < 0 or args.cfg_scale < 0:
        parser.error("--temperature and --cfg_scale must be >= 0")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        parser.error("--threshold is a confidence in [0, 1]")
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    stream = args.stream and sys.stdout.isatty()
    from modeling_llada import load_for_script  # heavy imports after the argument checks
    model, tokenizer = load_for_script(parser, args.model, device=args.device, dtype=args.dtype,
                                       adapter=args.adapter, **loading_options(args))
    if args.seed is not None:
        torch.manual_seed(args.seed)
    mask_id, eos_id, eot_id = special_ids(model, tokenizer)
    stop_ids = {eos_id, eot_id}
    max_length = model_max_length(model)
    if max_length is not None and args.gen_length >= max_length:
        parser.error(f"--gen_length {args.gen_length} leaves no room for a prompt in the model's "
                     f"{max_length}-token context")
    conversation = Conversation(tokenizer, max_length)
    fast_options = {key: value for key, value in (("cache", args.cache), ("threshold", args.threshold))
                    if value is not None}  # only when asked: generate() without them is the reference sampler
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    name = args.model or ("the adapter's base" if args.adapter else "bundled tiny model")
    name += f" + adapter {args.adapter}" if args.adapter else ""
    print(f"LLaDA chat ({name}): gen_length {args.gen_length}, steps {args.steps}, "
          f"block_length {args.block_length}. /reset starts over, /quit or Ctrl-D leaves.")
    writer = InPlaceWriter(sys.stdout)
    try:
        MASK_GLYPH.encode(sys.stdout.encoding or "ascii")
        glyph = MASK_GLYPH
    except (UnicodeEncodeError, LookupError):  # a terminal that cannot show it
        glyph = "_"
    try:
        while True:
            try:
                text = input("You: ")
            except EOFError:
                print()
                break
            except UnicodeDecodeError:  # a terminal or pipe that sent bytes that are not UTF-8
                print("(error: the message holds bytes that are not UTF-8; send it as UTF-8 text)")
                continue
            text = text.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            if text == "/reset":
                conversation.reset()
                print("(conversation cleared)")
                continue
            try:
                conversation.add_user(text)
                dropped = conversation.fit(args.gen_length)
            except ValueError as error:
                print(f"(error: {error})")
                continue
            if dropped:
                print(f"(dropped the {dropped} oldest messages to fit the model's {max_length}-token context)")
            prompt = torch.tensor([conversation.ids], dtype=torch.long, device=model.device)
            prompt_len = prompt.shape[1]

            def show(state):
                answer = state.x[0, prompt_len:].tolist()
                writer.draw("LLaDA: " + render_canvas(tokenizer, answer, mask_id, stop_ids, glyph))

            try:
                out = generate(model, prompt, steps=args.steps, gen_length=args.gen_length,
                               block_length=args.block_length, temperature=args.temperature,
                               cfg_scale=args.cfg_scale, remasking=args.remasking, mask_id=mask_id,
                               logits_eos_inf=args.logits_eos_inf, confidence_eos_eot_inf=args.confidence_eos_eot_inf,
                               eos_id=eos_id, eot_id=eot_id, callback=show if stream else None,
                               **fast_options)
            except ValueError as error:
                conversation.drop_pending_user()
                writer.clear()
                print(f"(error: {error})")
                continue
            answer = conversation.add_answer(out[0, prompt_len:].tolist(), stop_ids, skip_ids={mask_id})
            writer.clear()
            print(f"LLaDA: {answer}")
            print(f"({len(conversation.ids)} tokens in the conversation)")
    except KeyboardInterrupt:
        writer.clear()
        print()
    print("Bye.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
