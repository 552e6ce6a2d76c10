"""LLaDA for OpenCompass (pip install -r requirements-opencompass.txt; nothing of OpenCompass is vendored).

`LLaDAModel` samples answers with this project's `generate()`: it applies the chat template (Instruct models),
left-pads the batch WITH its attention mask, decodes only the answer part, stops at the first EOS / EoT, cuts
at the dataset's stop words, and never returns more than max_out_len tokens. `get_ppl` gives OpenCompass's
perplexity inferencers the Monte Carlo likelihood of get_log_likelihood.py.

Knobs (the reference wrapper's names): gen_steps, gen_length, gen_blocksize, batch_size_, cfg, temperature,
remasking, mask_id (default: the config's mask_token_id), padding_id (default: the tokenizer's pad / EOS),
diff_confidence_eos_eot_inf, diff_logits_eos_inf; plus chat (apply the chat template; False for Base
models), mc_num / mc_batch_size (for get_ppl), seed, device, dtype.

This directory has no __init__.py on purpose: `import opencompass` must find the pip package, not it. The
configs import this file as `llada_opencompass`, so eval_llada_opencompass.sh puts this directory (and the
repository root) on PYTHONPATH.

`ArithEvaluator` scores the project's arithmetic answers (the last integer after the last '=').
"""

import os
import sys
from typing import Dict, List, Optional

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from datasets import Dataset  # noqa: E402
from opencompass.datasets.base import BaseDataset  # noqa: E402
from opencompass.models.base import BaseModel  # noqa: E402
from opencompass.openicl.icl_evaluator import BaseEvaluator  # noqa: E402
from opencompass.registry import ICL_EVALUATORS, LOAD_DATASET, MODELS  # noqa: E402

from generate import generate  # noqa: E402

BUNDLED_MODEL = os.path.join(REPO_ROOT, "models", "llada-tiny-instruct")
_ROLES = {"HUMAN": "user", "BOT": "assistant", "SYSTEM": "system"}


def resolve_model_path(path):
    """$LLADA_MODEL_PATH when set (so one config serves any local copy), else the config's path; 'bundled' or
    None mean the project's tiny model."""
    path = os.environ.get("LLADA_MODEL_PATH") or path
    return BUNDLED_MODEL if path in (None, "", "bundled") else path


def to_messages(prompt):
    """An OpenCompass prompt (a string or a PromptList of {role, prompt} items) as chat messages; consecutive
    items of one role are merged."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = []
    for item in prompt:
        if isinstance(item, str):
            role, content = "user", item
        else:
            if not item.get("prompt"):
                continue
            role, content = _ROLES.get(item["role"], "user"), item["prompt"]
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + content
        else:
            messages.append({"role": role, "content": content})
    return messages


def to_plain_text(prompt):
    if isinstance(prompt, str):
        return prompt
    return "\n".join(item if isinstance(item, str) else item.get("prompt", "") for item in prompt)


def plan_answer(gen_length, steps, block_length, max_out_len):
    """(canvas length, steps, block length) for at most max_out_len new tokens: the configured canvas when it
    fits, otherwise a shorter one (whole blocks) with proportionally fewer steps. Same rule as
    eval_llada.plan_generation."""
    if gen_length % block_length:
        raise ValueError(f"gen_length={gen_length} must be a multiple of gen_blocksize={block_length}")
    if not max_out_len or max_out_len >= gen_length:
        return gen_length, steps, block_length
    if block_length >= gen_length:
        length = block = max_out_len
    else:
        block = block_length
        length = -(-max_out_len // block) * block
    blocks = length // block
    new_steps = max(1, round(steps * length / gen_length))
    return length, max(blocks, -(-new_steps // blocks) * blocks), block


@MODELS.register_module()
class LLaDAModel(BaseModel):
    def __init__(self, path: Optional[str] = None, max_seq_len: int = 4096, tokenizer_only: bool = False,
                 meta_template: Optional[Dict] = None, generation_kwargs: Optional[Dict] = None,
                 gen_steps: int = 512, gen_length: int = 512, gen_blocksize: int = 512, batch_size_: int = 1,
                 cfg: float = 0., temperature: float = 0., remasking: str = "low_confidence",
                 mask_id: Optional[int] = None, padding_id: Optional[int] = None,
                 diff_confidence_eos_eot_inf: bool = False, diff_logits_eos_inf: bool = False, chat: bool = True,
                 mc_num: int = 128, mc_batch_size: int = 32, seed: int = 1234, device: Optional[str] = None,
                 dtype: Optional[str] = None, stop_words: Optional[List[str]] = None, **kwargs):
        path = resolve_model_path(path)
        super().__init__(path=path, max_seq_len=max_seq_len, tokenizer_only=tokenizer_only,
                         meta_template=meta_template, generation_kwargs=generation_kwargs or {})
        from modeling_llada import load_model_and_tokenizer
        self.model, self.tokenizer = load_model_and_tokenizer(path, device=device, dtype=dtype)
        config = self.model.config
        self.max_seq_len = min(max_seq_len, getattr(config, "max_sequence_length", max_seq_len) or max_seq_len)
        plan_answer(gen_length, gen_steps, gen_blocksize, None)
        self.gen_steps, self.gen_length, self.gen_blocksize = gen_steps, gen_length, gen_blocksize
        self.batch_size = max(1, int(batch_size_))
        self.cfg, self.temperature, self.remasking = float(cfg), float(temperature), remasking
        self.mask_id = config.mask_token_id if mask_id is None else int(mask_id)
        tokenizer_pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else \
            self.tokenizer.eos_token_id
        self.padding_id = tokenizer_pad if padding_id is None else int(padding_id)
        self.eos_id = self.tokenizer.eos_token_id
        self.eot_id = self.tokenizer.convert_tokens_to_ids("<|eot_id|>")
        self.confidence_eos_eot_inf = bool(diff_confidence_eos_eot_inf)
        self.logits_eos_inf = bool(diff_logits_eos_inf)
        self.chat = bool(chat)
        self.mc_num, self.mc_batch_size, self.seed = int(mc_num), int(mc_batch_size), int(seed)
        self.stop_words = list(stop_words or [])
        if kwargs:
            print(f"LLaDAModel ignores unknown arguments: {sorted(kwargs)}")

    # ---- text <-> tokens -------------------------------------------------------------------------------------
    def _prompt_text(self, prompt):
        if self.chat:
            return self.tokenizer.apply_chat_template(to_messages(prompt), add_generation_prompt=True,
                                                      tokenize=False)
        return to_plain_text(prompt)

    def _ids(self, text):
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def get_token_len(self, prompt) -> int:
        return len(self._ids(self._prompt_text(prompt)))

    def encode(self, prompt: str) -> torch.Tensor:
        return torch.tensor(self._ids(prompt))

    def decode(self, tokens) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    # ---- generation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, inputs: List, max_out_len: int, stopping_criteria: Optional[List[str]] = None,
                 **kwargs) -> List[str]:
        length, steps, block = plan_answer(self.gen_length, self.gen_steps, self.gen_blocksize, max_out_len)
        stops = [s for s in list(stopping_criteria or []) + self.stop_words if s]
        room = self.max_seq_len - length
        outputs = []
        for start in range(0, len(inputs), self.batch_size):
            chunk = [self._ids(self._prompt_text(p)) for p in inputs[start:start + self.batch_size]]
            # keep the end of an over-long prompt (the question is usually last)
            chunk = [ids[-room:] if len(ids) > room > 0 else ids for ids in chunk]
            width = max(len(ids) for ids in chunk)
            prompt = torch.full((len(chunk), width), self.padding_id, dtype=torch.long)
            attention = torch.zeros_like(prompt)
            for row, ids in enumerate(chunk):
                prompt[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
                attention[row, width - len(ids):] = 1
            torch.manual_seed(self.seed + start)
            out = generate(self.model, prompt.to(self.model.device), attention_mask=attention.to(self.model.device),
                           steps=steps, gen_length=length, block_length=block, temperature=self.temperature,
                           cfg_scale=self.cfg, remasking=self.remasking, mask_id=self.mask_id,
                           logits_eos_inf=self.logits_eos_inf, confidence_eos_eot_inf=self.confidence_eos_eot_inf,
                           eos_id=self.eos_id, eot_id=self.eot_id)
            for row in out[:, width:].tolist():
                row = row[:max_out_len] if max_out_len else row
                cut = next((k for k, token in enumerate(row) if token in (self.eos_id, self.eot_id)), len(row))
                text = self.tokenizer.decode(row[:cut], skip_special_tokens=True)
                for stop in stops:
                    text = text.split(stop)[0]
                outputs.append(text)
        return outputs

    # ---- perplexity ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def get_ppl(self, inputs: List[str], mask_length: Optional[List[int]] = None) -> List[float]:
        """Average negative log-likelihood per scored token (OpenCompass's 'ppl' is a loss): the Monte Carlo
        bound of get_log_likelihood over the tokens after the first mask_length[i] (the context)."""
        from get_log_likelihood import get_log_likelihood
        losses = []
        for i, text in enumerate(inputs):
            ids = self._ids(text if isinstance(text, str) else self._prompt_text(text))
            context = mask_length[i] if mask_length is not None else 0
            prompt, answer = torch.tensor(ids[:context], dtype=torch.long), torch.tensor(ids[context:], dtype=torch.long)
            torch.manual_seed(self.seed + i)
            batch = min(self.mc_batch_size, self.mc_num)
            ll = get_log_likelihood(self.model, prompt, answer, mc_num=self.mc_num, batch_size=batch,
                                    cfg_scale=self.cfg, mask_id=self.mask_id)
            losses.append(-ll / max(1, len(answer)))
        return losses


@ICL_EVALUATORS.register_module()
class ArithEvaluator(BaseEvaluator):
    """Exact match of the final integer (data/build_data.parse_final_answer) with the reference answer."""

    def score(self, predictions, references):
        from data.build_data import parse_final_answer
        if len(predictions) != len(references):
            return {"error": "predictions and references differ in length"}
        details, correct = [], 0
        for prediction, reference in zip(predictions, references):
            value = parse_final_answer(prediction)
            hit = value is not None and value == int(reference)
            correct += hit
            details.append({"pred": prediction, "answer": reference, "correct": hit})
        return {"accuracy": 100.0 * correct / max(1, len(predictions)), "details": details}


@LOAD_DATASET.register_module()
class LLaDAJsonlDataset(BaseDataset):
    """JSON lines; a relative path is taken from the repository root. $LLADA_OC_LIMIT keeps the first N rows."""

    @staticmethod
    def load(path, limit=None):
        import json
        path = path if os.path.isabs(path) else os.path.join(REPO_ROOT, path)
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        limit = limit or os.environ.get("LLADA_OC_LIMIT")
        if limit:
            rows = rows[:int(limit)]
        return Dataset.from_list(rows)
