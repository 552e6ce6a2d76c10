"""prompting.py: the one definition of the special ids, the chat encoding, the left padding and the answer cut."""
from types import SimpleNamespace

import pytest
import torch

from prompting import cut_answer, encode_chat, left_pad, special_ids


def test_special_ids_come_from_the_config_and_tokenizer(tokenizer):
    model = SimpleNamespace(config=SimpleNamespace(mask_token_id=tokenizer.mask_token_id, eos_token_id=None))
    ids = special_ids(model, tokenizer)
    assert ids.mask == tokenizer.mask_token_id and ids.eos == tokenizer.eos_token_id
    assert ids.eot == tokenizer.convert_tokens_to_ids("<|eot_id|>") != ids.eos
    assert ids.pad == (tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    assert ids.stops == {ids.eos, ids.eot}
    assert special_ids(model, tokenizer, mask_id=7, pad_id=9)[::3] == (7, 9)  # the harnesses' overrides


def test_a_tokenizer_without_eot_ends_turns_with_eos():
    class NoEot:
        eos_token_id, pad_token_id, unk_token_id, mask_token_id = 2, None, 0, 3

        def convert_tokens_to_ids(self, token):
            return self.unk_token_id

    ids = special_ids(SimpleNamespace(config=SimpleNamespace(eos_token_id=2)), NoEot())
    assert (ids.mask, ids.eos, ids.eot, ids.pad) == (3, 2, 2, 2)


def test_padding_with_the_mask_token_is_refused(tokenizer):
    model = SimpleNamespace(config=SimpleNamespace(mask_token_id=5))
    with pytest.raises(ValueError, match="pads with the mask token"):
        special_ids(model, tokenizer, pad_id=5)


def test_encode_chat_is_the_template_rendering(tokenizer):
    messages = [{"role": "user", "content": "What is 2 + 3?"}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert encode_chat(tokenizer, "What is 2 + 3?") == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert encode_chat(tokenizer, messages, add_special_tokens=True) == tokenizer(text)["input_ids"]


def test_left_pad_right_aligns_with_a_mask():
    ids, attention = left_pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]] and attention.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, attention = left_pad([[4]], pad_id=9, width=3)
    assert ids.tolist() == [[9, 9, 4]] and attention.dtype == torch.long


def test_cut_answer_stops_at_the_first_stop_token():
    assert cut_answer([7, 8, 2, 9, 3], {2, 3}) == [7, 8]
    assert cut_answer(torch.tensor([7, 3, 2]), {2, 3}) == [7]
    assert cut_answer([7, 8], {2}) == [7, 8]
