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
from modeling_llada import add_loading_args, loading_options
from prompting import MASK_GLYPH, Conversation, model_max_length, render_canvas, special_ids


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
    parser.add_argument("--no_stream", dest="stream", action="store_false",
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


def read_message():
    """The user's next line, stripped: None at the end of input, '' when there is nothing to send."""
    try:
        return input("You: ").strip()
    except EOFError:
        print()
        return None
    except UnicodeDecodeError:  # a terminal or pipe that sent bytes that are not UTF-8
        print("(error: the message holds bytes that are not UTF-8; send it as UTF-8 text)")
        return ""


def terminal_glyph(stream):
    """MASK_GLYPH, or '_' on a terminal that cannot show it."""
    try:
        MASK_GLYPH.encode(stream.encoding or "ascii")
        return MASK_GLYPH
    except (UnicodeEncodeError, LookupError):
        return "_"


class ChatSession:
    """One terminal conversation: the model, its special ids, the sampling flags and the in-place display."""

    def __init__(self, model, tokenizer, args, stream):
        self.model, self.tokenizer, self.args = model, tokenizer, args
        self.ids = special_ids(model, tokenizer)
        self.max_length = model_max_length(model)
        self.conversation = Conversation(tokenizer, self.max_length)
        self.writer = InPlaceWriter(sys.stdout)
        self.glyph = terminal_glyph(sys.stdout)
        self.stream = stream
        # fast sampling only when asked: generate() without these options is the reference sampler
        self.fast_options = {key: value for key, value in (("cache", args.cache), ("threshold", args.threshold))
                             if value is not None}

    def show(self, prompt_len):
        """generate()'s per-step callback: redraw the partly denoised answer."""
        def draw(state):
            answer = state.x[0, prompt_len:].tolist()
            self.writer.draw("LLaDA: " + render_canvas(self.tokenizer, answer, self.ids.mask, self.ids.stops,
                                                       self.glyph))
        return draw

    def answer(self, text):
        """Send one user message and print the answer (or the error that stopped it)."""
        conversation, args = self.conversation, self.args
        try:
            conversation.add_user(text)
            dropped = conversation.fit(args.gen_length)
        except ValueError as error:
            print(f"(error: {error})")
            return
        if dropped:
            print(f"(dropped the {dropped} oldest messages to fit the model's {self.max_length}-token context)")
        prompt = torch.tensor([conversation.ids], dtype=torch.long, device=self.model.device)
        prompt_len = prompt.shape[1]
        try:
            out = generate(self.model, prompt, steps=args.steps, gen_length=args.gen_length,
                           block_length=args.block_length, temperature=args.temperature, cfg_scale=args.cfg_scale,
                           remasking=args.remasking, mask_id=self.ids.mask, logits_eos_inf=args.logits_eos_inf,
                           confidence_eos_eot_inf=args.confidence_eos_eot_inf, eos_id=self.ids.eos,
                           eot_id=self.ids.eot, callback=self.show(prompt_len) if self.stream else None,
                           **self.fast_options)
        except ValueError as error:
            conversation.drop_pending_user()
            self.writer.clear()
            print(f"(error: {error})")
            return
        answer = conversation.add_answer(out[0, prompt_len:].tolist(), self.ids.stops, skip_ids={self.ids.mask})
        self.writer.clear()
        print(f"LLaDA: {answer}")
        print(f"({len(conversation.ids)} tokens in the conversation)")

    def run(self):
        """Read messages until /quit, the end of input or Ctrl-C."""
        try:
            while True:
                text = read_message()
                if text is None or text in ("/quit", "/exit"):
                    break
                if text == "/reset":
                    self.conversation.reset()
                    print("(conversation cleared)")
                elif text:
                    self.answer(text)
        except KeyboardInterrupt:
            self.writer.clear()
            print()
        print("Bye.")


def main(argv=None):
    parser, args = parse_args(argv)
    stream = args.stream and sys.stdout.isatty()
    from modeling_llada import load_for_script  # heavy imports after the argument checks
    model, tokenizer = load_for_script(parser, args.model, device=args.device, dtype=args.dtype,
                                       adapter=args.adapter, **loading_options(args))
    if args.seed is not None:
        torch.manual_seed(args.seed)
    session = ChatSession(model, tokenizer, args, stream)
    if session.max_length is not None and args.gen_length >= session.max_length:
        parser.error(f"--gen_length {args.gen_length} leaves no room for a prompt in the model's "
                     f"{session.max_length}-token context")
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    name = args.model or ("the adapter's base" if args.adapter else "bundled tiny model")
    name += f" + adapter {args.adapter}" if args.adapter else ""
    print(f"LLaDA chat ({name}): gen_length {args.gen_length}, steps {args.steps}, "
          f"block_length {args.block_length}. /reset starts over, /quit or Ctrl-D leaves.")
    session.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
