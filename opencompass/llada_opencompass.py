"""LLaDA for OpenCompass (pip install -r requirements-opencompass.txt; nothing of OpenCompass is vendored).

`LLaDAModel` (Instruct models) and `LLaDABaseModel` (Base models) make the original release's decisions with
this project's `generate()`: the Instruct wrapper keeps the dataset template's HUMAN / BOT / SYSTEM roles and
renders them with the chat template; the Base wrapper takes OpenCompass's plain-text prompt. The canvas is
always gen_length / gen_steps / gen_blocksize (max_out_len does not change it), the answer is the whole canvas
decoded without special tokens, cut at the model's `stop_words`. Deliberate differences from the original
wrapper (EVAL.md lists them): the batch is left-padded WITH its attention mask (the original drops it, which
only matters above batch size 1), an over-long prompt keeps its end, and `get_ppl` gives OpenCompass's
perplexity inferencers the Monte Carlo likelihood of get_log_likelihood.py (the original has none).

Knobs (the original wrapper's names): gen_steps, gen_length, gen_blocksize, batch_size_, cfg, temperature,
remasking, mask_id (default: the config's mask_token_id), padding_id (default: the tokenizer's pad / EOS),
diff_confidence_eos_eot_inf, diff_logits_eos_inf, stop_words, peft_path (a LoRA adapter, merged into the
model); plus mc_num / mc_batch_size (for get_ppl), seed, device, dtype, quantization (int8 / int4,
bitsandbytes), device_map (auto: the model split over the task's GPUs, run_cfg num_gpus), max_memory,
offload_folder, and generate()'s fast sampling options cache, threshold, factor, early_exit, block_logits
(all off by default: the reference sampler).

Speed: the answers of each predictions file (a dataset, or a part of one) are counted into
<run folder>/speed/<model abbr>/<file>.json (forward passes, answer tokens, wall time; eval_speed.py), and
eval_llada_opencompass.sh gathers them into <run folder>/speed.json and prints the table at the end
(`python eval_speed.py <run folder>` does the same after a run started otherwise).

This directory has no __init__.py on purpose: `import opencompass` must find the pip package, not it. The
configs import this file as `llada_opencompass`, so eval_llada_opencompass.sh puts this directory (and the
repository root) on PYTHONPATH.

Three dataset config variants of the original release are not in pip OpenCompass, and pip scores MBPP and BBH
differently from the OpenCompass copy the original ran; configs/datasets/ has those five variants, with the
pieces they need defined here: `gsm8k_answer_is_postprocess` (gsm8k_gen_base), `GPQAShuffledDataset` and
`gpqa_correct_answer_postprocess` (gpqa_fewshot_gen), `ReleaseMBPPEvaluator` (mbpp_gen) and
`ReleaseBBHEvaluator` (bbh_gen). `ArithEvaluator` and `LLaDAJsonlDataset` serve the
offline run of the bundled model (the last integer after the last '=' of an answer).
"""

import csv
import json
import os
import random
import re
import sys
import time
from typing import Dict, List, Optional

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from datasets import Dataset  # noqa: E402
from opencompass.datasets import MBPPEvaluator  # noqa: E402
from opencompass.datasets.base import BaseDataset  # noqa: E402
from opencompass.models.base import BaseModel, LMTemplateParser  # noqa: E402
from opencompass.models.base_api import APITemplateParser  # noqa: E402
from opencompass.openicl.icl_evaluator import BaseEvaluator  # noqa: E402
from opencompass.registry import ICL_EVALUATORS, LOAD_DATASET, MODELS, TEXT_POSTPROCESSORS  # noqa: E402
from opencompass.utils import get_data_path  # noqa: E402

from eval_speed import SpeedRecord  # noqa: E402
from generate import check_sampling_options, generate, parse_fast_options  # noqa: E402
from prompting import chat_text, left_pad, model_max_length, special_ids  # noqa: E402

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


# The prompt format of the original wrapper: OpenCompass keeps the HUMAN / BOT / SYSTEM roles of a dataset's
# template (so few-shot rounds become chat turns) and the wrapper renders them with the chat template.
CHAT_META_TEMPLATE = dict(
    round=[dict(role='HUMAN', api_role='HUMAN'), dict(role='BOT', api_role='BOT', generate=True)],
    reserved_roles=[dict(role='SYSTEM', api_role='SYSTEM')],
)


@MODELS.register_module()
class LLaDAModel(BaseModel):
    """LLaDA Instruct models: the dataset's prompt as chat messages through the chat template."""

    def __init__(self, path: Optional[str] = None, max_seq_len: Optional[int] = None, tokenizer_only: bool = False,
                 meta_template: Optional[Dict] = None, generation_kwargs: Optional[Dict] = None,
                 gen_steps: int = 512, gen_length: int = 512, gen_blocksize: int = 512, batch_size_: int = 1,
                 cfg: float = 0., temperature: float = 0., remasking: str = "low_confidence",
                 mask_id: Optional[int] = None, padding_id: Optional[int] = None,
                 diff_confidence_eos_eot_inf: bool = False, diff_logits_eos_inf: bool = False,
                 mc_num: int = 128, mc_batch_size: int = 32, seed: int = 1234, device: Optional[str] = None,
                 dtype: Optional[str] = None, stop_words: Optional[List[str]] = None, peft_path: Optional[str] = None,
                 cache: Optional[str] = None, threshold: Optional[float] = None, factor: Optional[float] = None,
                 early_exit: bool = False, block_logits: Optional[bool] = None, quantization: Optional[str] = None,
                 device_map: Optional[str] = None, max_memory=None, offload_folder: Optional[str] = None,
                 **kwargs):
        path = resolve_model_path(path)
        self.logits_eos_inf = bool(diff_logits_eos_inf)
        self.fast = parse_fast_options(cache, threshold, factor, early_exit, block_logits)  # before the model loads
        super().__init__(path=path, max_seq_len=max_seq_len or 4096, tokenizer_only=tokenizer_only,
                         meta_template=meta_template, generation_kwargs=generation_kwargs or {})
        self.template_parser = self._template_parser(meta_template)
        from modeling_llada import load_model_and_tokenizer
        self.model, self.tokenizer = load_model_and_tokenizer(path, device=device, dtype=dtype, adapter=peft_path,
                                                              quantization=quantization, device_map=device_map,
                                                              max_memory=max_memory, offload_folder=offload_folder)
        model_max = model_max_length(self.model)
        self.max_seq_len = min(max_seq_len or model_max or 4096, model_max or 4096)
        self.gen_steps, self.gen_length, self.gen_blocksize = int(gen_steps), int(gen_length), int(gen_blocksize)
        self.batch_size = max(1, int(batch_size_))
        self.cfg_scale, self.temperature, self.remasking = float(cfg), float(temperature), remasking
        check_sampling_options(self.gen_steps, self.gen_length, self.gen_blocksize, self.temperature, self.cfg_scale,
                               self.remasking, self.fast["cache"], self.fast["threshold"], self.fast["factor"],
                               self.fast["early_exit"], self.logits_eos_inf)
        # the knobs keep the original wrapper's names (padding_id, cfg); inside, the project's (pad_id, cfg_scale)
        self.mask_id, self.eos_id, self.eot_id, self.pad_id = special_ids(self.model, self.tokenizer, mask_id,
                                                                          padding_id)
        self.confidence_eos_eot_inf = bool(diff_confidence_eos_eot_inf)
        # tasks: the speed file of each predictions file answered (None: calls from outside an inferencer)
        self.speed = SpeedRecord(dict(gen_length=self.gen_length, steps=self.gen_steps, block_length=self.gen_blocksize,
                                      batch_size=self.batch_size, **self.fast))
        self.mc_num, self.mc_batch_size, self.seed = int(mc_num), int(mc_batch_size), int(seed)
        self.stop_words = list(stop_words or [])
        if kwargs:
            print(f"{type(self).__name__} ignores unknown arguments: {sorted(kwargs)}")

    @staticmethod
    def _template_parser(meta_template):
        return APITemplateParser(meta_template or CHAT_META_TEMPLATE)

    # ---- text <-> tokens -------------------------------------------------------------------------------------
    def _prompt_text(self, prompt):
        return chat_text(self.tokenizer, to_messages(prompt))

    def _ids(self, text):
        """Token ids the way the original wrapper gets them (the tokenizer's default special tokens: LLaDA's
        tokenizers add none, the chat template writes <|startoftext|> itself)."""
        return self.tokenizer(text)["input_ids"]

    def get_token_len(self, prompt) -> int:
        return len(self._ids(self._prompt_text(prompt)))

    def encode(self, prompt: str) -> torch.Tensor:
        return torch.tensor(self._ids(prompt))

    def decode(self, tokens) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    # ---- generation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, inputs: List, max_out_len: int) -> List[str]:
        """Answers on a canvas of gen_length tokens, as the original wrapper: max_out_len does not change the
        canvas, and the dataset's stopping criteria are not taken (the signature has no stopping_criteria, so
        OpenCompass does not pass them); each answer is the whole canvas decoded without special tokens, cut
        at the earliest of the model's stop_words."""
        room = self.max_seq_len - self.gen_length
        outputs = []
        target = calling_inferencer()
        task = speed_file(*target) if target else None
        for start in range(0, len(inputs), self.batch_size):
            chunk = [self._ids(self._prompt_text(p)) for p in inputs[start:start + self.batch_size]]
            # keep the end of an over-long prompt (the question is usually last)
            chunk = [ids[-room:] if len(ids) > room > 0 else ids for ids in chunk]
            prompt, attention = left_pad(chunk, self.pad_id, device=self.model.device)
            width = prompt.shape[1]
            torch.manual_seed(self.seed + start)
            stats, start_time = {}, time.perf_counter()
            out = generate(self.model, prompt, attention_mask=attention,
                           steps=self.gen_steps, gen_length=self.gen_length, block_length=self.gen_blocksize,
                           temperature=self.temperature, cfg_scale=self.cfg_scale, remasking=self.remasking,
                           mask_id=self.mask_id, logits_eos_inf=self.logits_eos_inf,
                           confidence_eos_eot_inf=self.confidence_eos_eot_inf, eos_id=self.eos_id, eot_id=self.eot_id,
                           stats=stats, **self.fast)
            answers = out[:, width:].tolist()  # waits for the device, so the time below is the sampling's
            self.speed.add(task, len(chunk), self.gen_length, stats, time.perf_counter() - start_time)
            for row in answers:
                text = self.tokenizer.decode(row, skip_special_tokens=True)
                for stop in self.stop_words:
                    text = text.split(stop)[0] if stop else text
                outputs.append(text)
        if task is not None:
            os.makedirs(os.path.dirname(task), exist_ok=True)
            with open(task, "w", encoding="utf-8") as f:
                json.dump({"settings": self.speed.settings, "counts": self.speed.tasks[task]}, f, indent=1)
        return outputs

    # ---- perplexity ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def get_ppl(self, inputs: List[str], mask_length: Optional[List[int]] = None) -> List[float]:
        """Average negative log-likelihood per scored token (OpenCompass's 'ppl' is a loss): the Monte Carlo
        bound of get_log_likelihood over the tokens after the first mask_length[i] (the context). (The
        original wrapper has none; it sends likelihood benchmarks to lm-eval.)"""
        from get_log_likelihood import get_log_likelihood
        losses = []
        for i, text in enumerate(inputs):
            ids = self._ids(text if isinstance(text, str) else self._prompt_text(text))
            context = mask_length[i] if mask_length is not None else 0
            prompt = torch.tensor(ids[:context], dtype=torch.long)
            answer = torch.tensor(ids[context:], dtype=torch.long)
            torch.manual_seed(self.seed + i)
            batch = min(self.mc_batch_size, self.mc_num)
            ll = get_log_likelihood(self.model, prompt, answer, mc_num=self.mc_num, batch_size=batch,
                                    cfg_scale=self.cfg_scale, mask_id=self.mask_id)
            losses.append(-ll / max(1, len(answer)))
        return losses


def calling_inferencer():
    """(predictions folder, predictions file name) of the OpenCompass inferencer whose inference() called the
    model, or None when no inferencer did. OpenCompass tells a model nothing about the dataset it answers; its
    inferencers hold these two as locals of inference() (work_dir/predictions/<model abbr>, <dataset abbr>.json),
    which is where the speed of each dataset is filed."""
    frame = sys._getframe(1)
    while frame is not None:
        names = frame.f_locals
        if frame.f_code.co_name == "inference" and "output_json_filepath" in names and "output_json_filename" in names:
            return str(names["output_json_filepath"]), str(names["output_json_filename"])
        frame = frame.f_back
    return None


def speed_file(predictions_folder, file_name):
    """Where the speed of a predictions file's answers goes: <run folder>/speed/<model abbr>/<file>.json."""
    folder = os.path.abspath(predictions_folder)
    return os.path.join(os.path.dirname(os.path.dirname(folder)), "speed", os.path.basename(folder),
                        os.path.splitext(file_name)[0] + ".json")


@MODELS.register_module()
class LLaDABaseModel(LLaDAModel):
    """LLaDA Base models: no chat template; OpenCompass joins the prompt's parts into one text."""

    @staticmethod
    def _template_parser(meta_template):
        return LMTemplateParser(meta_template)

    def _prompt_text(self, prompt):
        if isinstance(prompt, str):
            return prompt
        return "".join(item if isinstance(item, str) else item.get("prompt", "") for item in prompt)


@ICL_EVALUATORS.register_module()
class ArithEvaluator(BaseEvaluator):
    """Exact match of the final integer (prompting.parse_final_answer) with the reference answer."""

    def score(self, predictions, references):
        from prompting import parse_final_answer
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
        path = path if os.path.isabs(path) else os.path.join(REPO_ROOT, path)
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        limit = limit or os.environ.get("LLADA_OC_LIMIT")
        if limit:
            rows = rows[:int(limit)]
        return Dataset.from_list(rows)


# ---- the original release's dataset pieces that pip OpenCompass lacks ----------------------------------------
_ANSWER_IS = re.compile(r"The Answer is[:\s]*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+\.\d+|-?\d+")


@TEXT_POSTPROCESSORS.register_module()
def gsm8k_answer_is_postprocess(text: str) -> str:
    """GSM8K answer of a Base model (gsm8k_gen_base): the number after the first 'The answer is' (any case),
    else the last number before the model starts a new 'Question:', else 'NULL'."""
    found = _ANSWER_IS.search(text)
    if found:
        return found.group(1)
    numbers = _NUMBER.findall(text.split("Question:")[0])
    return numbers[-1] if numbers else "NULL"


@TEXT_POSTPROCESSORS.register_module()
def gpqa_correct_answer_postprocess(text: str) -> str:
    """The letter in the first 'The correct answer is (X)' (any case), else a single space (never correct)."""
    found = re.search(r"The correct answer is \(([^)]+)\)", text, re.IGNORECASE)
    return found.group(1).strip() if found else " "


@LOAD_DATASET.register_module()
class GPQAShuffledDataset(BaseDataset):
    """GPQA from its CSV (question in column 7, the correct option in column 8, three wrong ones in 9-11) with
    the options of each question shuffled by one random.Random(seed) in file order (the original release's
    order: the same permutations as seeding Python's global generator once and shuffling row by row)."""

    @staticmethod
    def load(path: str, name: str, seed: int = 0, **kwargs):
        path = get_data_path(path, local_mode=True)
        generator = random.Random(seed)
        rows = []
        with open(os.path.join(path, name), encoding="utf-8") as f:
            for row in csv.reader(f):
                if row[7] == "Question":
                    continue
                options = [row[8], row[9], row[10], row[11]]
                generator.shuffle(options)
                item = {"question": row[7], **dict(zip("ABCD", options))}
                item["answer"] = "ABCD"[options.index(row[8])]
                rows.append(item)
        return Dataset.from_list(rows)


@ICL_EVALUATORS.register_module()
class ReleaseMBPPEvaluator(MBPPEvaluator):
    """MBPP as the original release scored it. Pip OpenCompass no longer strips the quotes around a few-shot
    answer ('[BEGIN] 'code' [DONE]', which the Base model's stop word '[DONE]' leaves quoted) and compares
    asserted values type-aware (4 == 4.0 fails); here the quotes go and the tests run as plain asserts in the
    same program as the code."""

    def _process_answer(self, text):
        text = super()._process_answer(text)
        if text.startswith("'"):
            text = text[1:]
        if text.endswith("'"):
            text = text[:-1]
        return text

    def _process_test(self, test_case, pred):
        return pred + "\n" + test_case, ""


def bbh_freeform_answer(text: str) -> str:
    """A free-form BBH answer as the original release read it: what follows the FIRST 'answer is ', up to the
    end of that line, without a final period; the bold part if it has one."""
    parts = text.split("answer is ")
    answer = parts[1].strip() if len(parts) > 1 else text
    answer = answer.split("\n")[0].strip()
    if answer.endswith("."):
        answer = answer[:-1].strip()
    bold = re.search(r"\*\*(.*?)\*\*", answer)
    return bold.group(1) if bold else answer


@ICL_EVALUATORS.register_module()
class ReleaseBBHEvaluator(BaseEvaluator):
    """Free-form BBH subsets as the original release scored them: bbh_freeform_answer equal to the reference,
    case-sensitive (pip OpenCompass reads the LAST 'answer is', normalises yes/no and commas and ignores case;
    for a Base model that goes on to invent further questions, the first answer is its answer)."""

    def score(self, predictions, references):
        if len(predictions) != len(references):
            return {"error": "predictions and references differ in length"}
        details, correct = [], 0
        for prediction, reference in zip(predictions, references):
            answer = bbh_freeform_answer(prediction)
            hit = answer == reference
            correct += hit
            details.append({"pred": answer, "answer": reference, "correct": hit})
        return {"score": 100.0 * correct / len(predictions), "details": details}
