"""The prompt-side rules every script shares, one definition each (beside the loader, modeling_llada.py):

- `special_ids`: the mask, EOS, EoT and pad token ids of a model and its tokenizer;
- `chat_text` / `encode_chat`: a conversation (or one user message) rendered by the chat template, as text / ids;
- `left_pad`: a batch of prompts left-padded into one tensor, with its attention mask;
- `cut_answer`: an answer's tokens up to its first EOS / EoT;
- `plan_generation`: the canvas (length, steps, block) of a request allowed at most max_gen_toks tokens;
- `Conversation`, `render_canvas`, `model_max_length`: the multi-turn chat state and the partly denoised answer
  shown by chat.py and app.py;
- the formats the evaluations read at run time: `parse_final_answer` (the arithmetic answer's value, for the
  lm-eval tasks and the OpenCompass evaluator) and `forward_question` / `backward_question` (the English couplet
  questions of eval_reverse.py, also what data/build_data.py trains on).

Imports only torch (and modeling_llada's user-text check when a Conversation takes a message), so the harness
wrappers (lm-eval, OpenCompass) and the data builder can import it from the repository root like generate.py.
"""

import re
from typing import NamedTuple, Optional

import torch

EOT_TOKEN = "<|eot_id|>"
MASK_GLYPH = "░"


class SpecialIds(NamedTuple):
    """The mask, EOS, EoT (end of turn) and pad token ids."""
    mask: int
    eos: int
    eot: int
    pad: int

    @property
    def stops(self):
        """The tokens that end an answer: EOS and EoT."""
        return {self.eos, self.eot}


def special_ids(model, tokenizer, mask_id=None, pad_id=None):
    """SpecialIds from the model config and tokenizer, never literals. mask: mask_id if given, else the config's
    mask_token_id, else the tokenizer's mask token. eos: the tokenizer's EOS, else the config's. eot: the
    tokenizer's <|eot_id|>, or EOS when it has none. pad: pad_id if given, else the tokenizer's pad token, else EOS.
    ValueError when no mask token is named, or when the pad token is the mask token."""
    config = model.config
    if mask_id is None:
        mask_id = getattr(config, "mask_token_id", None)
    if mask_id is None:
        mask_id = tokenizer.mask_token_id
    if mask_id is None:
        raise ValueError("neither the model config nor the tokenizer names a mask token id")
    eos_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else config.eos_token_id
    eot_id = tokenizer.convert_tokens_to_ids(EOT_TOKEN)
    if not isinstance(eot_id, int) or eot_id == tokenizer.unk_token_id:
        eot_id = eos_id
    if pad_id is None:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    if int(pad_id) == int(mask_id):
        raise ValueError("the tokenizer pads with the mask token; give it another pad token (EOS)")
    return SpecialIds(int(mask_id), eos_id, eot_id, int(pad_id))


def chat_text(tokenizer, conversation, add_generation_prompt=True):
    """A conversation (a list of {role, content} messages, or one user message as a string) rendered by the
    tokenizer's chat template, by default with the assistant header appended (what the model answers)."""
    if isinstance(conversation, str):
        conversation = [{"role": "user", "content": conversation}]
    return tokenizer.apply_chat_template(conversation, add_generation_prompt=add_generation_prompt, tokenize=False)


def encode_chat(tokenizer, conversation, add_generation_prompt=True, add_special_tokens=False):
    """Token ids of chat_text(tokenizer, conversation, add_generation_prompt). add_special_tokens=True tokenizes
    with the tokenizer's default call, as the original release's eval_reverse and OpenCompass wrapper do (LLaDA's
    tokenizers add nothing; the template writes the BOS)."""
    text = chat_text(tokenizer, conversation, add_generation_prompt)
    return tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]


def left_pad(sequences, pad_id, width=None, device=None):
    """(ids, attention_mask), both LongTensors (len(sequences), width): each sequence of token ids right-aligned
    after pad_id padding, the mask 1 on its tokens. width: default the longest sequence."""
    width = max(len(ids) for ids in sequences) if width is None else width
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        if len(sequence):
            ids[row, width - len(sequence):] = torch.as_tensor(sequence, dtype=torch.long)
            attention[row, width - len(sequence):] = 1
    return ids.to(device), attention.to(device)


def cut_answer(answer_ids, stop_ids):
    """The answer's token ids up to (excluding) the first stop token (EOS / EoT)."""
    answer_ids = [int(t) for t in answer_ids]
    for i, token in enumerate(answer_ids):
        if token in stop_ids:
            return answer_ids[:i]
    return answer_ids


def plan_generation(gen_length, steps, block_length, max_gen_toks=None, honor_max_gen_toks=True):
    """Canvas length, steps and block length for a request allowed at most max_gen_toks new tokens.

    With honor_max_gen_toks False (llada_dist's default, the reference's rule), or max_gen_toks None or >=
    gen_length, the model's settings are used as they are. Otherwise the canvas shrinks to max_gen_toks
    (rounded up to whole blocks for semi-autoregressive settings) and the steps shrink in proportion (at least
    one per block, a multiple of the number of blocks); the answer is then cut to max_gen_toks tokens."""
    if gen_length % block_length:
        raise ValueError(f"gen_length={gen_length} must be a multiple of block_length={block_length}")
    if not honor_max_gen_toks or max_gen_toks is None or max_gen_toks >= gen_length:
        return gen_length, steps, block_length
    if max_gen_toks <= 0:
        raise ValueError(f"max_gen_toks must be positive (got {max_gen_toks})")
    if block_length >= gen_length:  # pure diffusion: one block over the whole (shorter) answer
        length = max_gen_toks
        block = length
    else:
        block = block_length
        length = -(-max_gen_toks // block) * block
    num_blocks = length // block
    new_steps = max(1, round(steps * length / gen_length))
    new_steps = max(num_blocks, -(-new_steps // num_blocks) * num_blocks)
    return length, new_steps, block


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
        return encode_chat(self.tokenizer, messages, add_generation_prompt)

    def _extend(self, add_generation_prompt):
        ids = self._render(self.messages, add_generation_prompt)
        if ids[:len(self.ids)] != self.ids:  # a template that rewrites earlier turns: take its rendering
            self.ids = ids
        else:
            self.ids = self.ids + ids[len(self.ids):]

    def add_user(self, text):
        """Append a user turn and the assistant's generation prompt. Returns the prompt ids. ValueError (and
        nothing appended) when the text holds a control token of the chat format."""
        from modeling_llada import check_user_text  # here, so the data builder can import the formats below
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
    """The model's context length (config.max_sequence_length), or None when it names none."""
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


# ---- the formats the evaluations read at run time (data/build_data.py builds the data with them) ------------
_INT_RE = re.compile(r"-?\d+")


def parse_final_answer(text: str) -> Optional[int]:
    """The last integer after the last '=' in ``text`` (None if there is none)."""
    if text is None:
        return None
    idx = text.rfind("=")
    tail = text[idx + 1:] if idx >= 0 else text
    nums = _INT_RE.findall(tail)
    if not nums:
        return None
    return int(nums[-1])


def forward_question(line: str) -> str:
    """The English couplet question for the line after ``line``."""
    return f'What is the next line after: "{line}"?'


def backward_question(line: str) -> str:
    """The English couplet question for the line before ``line``."""
    return f'What is the line before: "{line}"?'
