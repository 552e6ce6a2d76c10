"""lm-evaluation-harness adapter for LLaDA: the model `llada_dist`.

Run it like the harness itself (one process, or many with `accelerate launch`):

    python eval_llada.py --tasks llada_arith_mc --model_args model_path=models/llada-tiny-instruct,mc_num=32
    accelerate launch --num_processes 2 --cpu eval_llada.py --tasks llada_arith_mc --model_args ...

`--model llada_dist` is the default, and the project's offline tasks (tasks/) are always on the include path.

model_args (the reference's names and defaults, plus a few of this project's):
  model_path (default: the bundled tiny model), mask_id (default: the config's mask_token_id),
  max_length 4096 (capped at the model's max_sequence_length), batch_size 32 (from the command line:
  --batch_size, lm-eval's default 1, unless model_args give it), mc_num 128, is_check_greedy True, cfg 0,
  steps 1024, gen_length 1024, block_length 1024, remasking low_confidence;
  temperature 0, logits_eos_inf False, confidence_eos_eot_inf False, seed 1234, device, dtype,
  forward_batch (rows per model call when packing likelihood requests; default batch_size),
  pad_to_multiple_of 16 (length buckets, see below), truncation False (left-truncate over-long prompts
  for generation instead of raising),
  honor_max_gen_toks False, cut_at_eos False (opt-ins that change what generation returns, see below),
  peft (a LoRA adapter directory, merged into the model; lm-eval's own name for it),
  cache None, threshold None, factor None, early_exit False, block_logits None (generate()'s fast sampling
  options, all off by default: the reference sampler),
  quantization (int8 / int4: bitsandbytes weights, see modeling_llada.quantization_config), device_map (auto:
  one model split over the GPUs by accelerate, in one process; not with accelerate launch), max_memory
  (e.g. 0:20GiB;1:20GiB;cpu:64GiB) and offload_folder (with device_map).

Speed: every run records, per generation task, the forward passes per answer token, answer tokens per second
and wall time of generation (eval_speed.py), prints them at the end and writes them as speed_<date>.json beside
lm-eval's results_<date>.json under --output_path.

batch_size is the reference's: the Monte Carlo batch of a likelihood request (mc_num / batch_size rounds, the
mask counts stratified within each batch, so it changes the estimator), and, for generation, how many prompts
are decoded together (left-padded, with an attention mask; batch_size 1 decodes each prompt unpadded, exactly
the reference's call). Pass it as the reference does, `--batch_size 8` on the command line; a batch_size in
model_args wins over --batch_size.

Generation, by default as in the reference release: every request is decoded on the canvas that model_args
give (gen_length tokens, `steps` steps, blocks of block_length), whatever the task's `max_gen_toks` says; the
answer is decoded with its special tokens, cut at each of the task's stop sequences in turn, and the special
tokens are then removed (text after an EOS stays, minus the EOS tokens).
  honor_max_gen_toks=True: a request with max_gen_toks < gen_length is decoded on a shorter canvas
    (max_gen_toks, rounded up to whole blocks when block_length < gen_length; steps shrink in proportion) and
    its answer is cut to max_gen_toks tokens. Faster for tasks with short answers, but a different experiment
    from the paper's (e.g. gsm8k's default max_gen_toks 256 turns gen_length=1024 into 256 tokens in 256 steps).
  cut_at_eos=True: the answer ends at its first EOS / EoT token (what follows is dropped even when it is text),
    then at the stop sequences. This project's earlier rule; the offline commands in eval_llada_lm_eval.sh use it.
Prompts are tokenized with the tokenizer's own special-token rule, as the reference does (a BOS the text already
starts with, from a chat template, is not doubled).

Determinism across process counts: the Monte Carlo masks of a likelihood request are drawn from a seed
derived from (seed, context, continuation), and every sequence is padded to a length that depends on the
sequence alone (a multiple of pad_to_multiple_of, with the padding masked out of attention). So a
request's score does not depend on which other requests share its batch or process: 1 and N processes give
the same numbers. Sampling with temperature > 0 or random remasking runs one request per call, seeded
per request, for the same reason.
"""

import argparse
import hashlib
import logging
import os
import sys
import time
from collections import defaultdict

import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
TASKS_DIR = os.path.join(ROOT, "tasks")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from eval_speed import SpeedRecord, table  # noqa: E402
from generate import check_sampling_options, generate, model_logits, parse_fast_options  # noqa: E402
from get_log_likelihood import batched_log_likelihood  # noqa: E402
from prompting import cut_answer, left_pad, model_max_length, plan_generation, special_ids  # noqa: E402

from lm_eval.api.model import LM  # noqa: E402
from lm_eval.api.registry import register_model  # noqa: E402

logger = logging.getLogger("eval_llada")

_TRUE = ("1", "true", "yes", "y", "t")


def _as_bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def request_seed(seed, *parts):
    """A 63-bit seed from the global seed and a request's strings: stable across processes and runs."""
    digest = hashlib.sha256("\x1f".join([str(seed), *map(str, parts)]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def bucket_length(length, multiple, cap=None):
    """Length to pad a sequence of `length` tokens to: the next multiple of `multiple`, at most `cap`."""
    padded = -(-length // multiple) * multiple if multiple > 1 else length
    if cap is not None:
        padded = min(padded, max(cap, length))
    return padded


@register_model("llada_dist")
class LLaDAEvalHarness(LM):
    last = None  # the harness built last: main() reports its speed after the run
    def __init__(self, model_path=None, mask_id=None, max_length=4096, batch_size=32, mc_num=128,
                 is_check_greedy=True, cfg=0., steps=1024, gen_length=1024, block_length=1024,
                 remasking="low_confidence", temperature=0., logits_eos_inf=False, confidence_eos_eot_inf=False,
                 seed=1234, device=None, dtype=None, forward_batch=None, pad_to_multiple_of=16, truncation=False,
                 honor_max_gen_toks=False, cut_at_eos=False, peft=None, max_batch_size=None, cache=None,
                 threshold=None, factor=None, early_exit=False, block_logits=None, quantization=None,
                 device_map=None, max_memory=None, offload_folder=None, **kwargs):
        super().__init__()  # its parts: _read_sampling_options, _setup_processes, _load
        if kwargs:
            logger.warning("llada_dist ignores unknown model_args: %s", sorted(kwargs))
        self._read_sampling_options(batch_size, mc_num, forward_batch, is_check_greedy, cfg, steps, gen_length,
                                    block_length, remasking, temperature, logits_eos_inf, confidence_eos_eot_inf,
                                    dict(cache=cache, threshold=threshold, factor=factor, early_exit=early_exit,
                                         block_logits=block_logits))
        LLaDAEvalHarness.last = self
        self.seed = int(seed)
        self.pad_multiple = max(1, int(pad_to_multiple_of))
        self.truncation = _as_bool(truncation)
        self.honor_max_gen_toks = _as_bool(honor_max_gen_toks)
        self.cut_at_eos = _as_bool(cut_at_eos)
        device = self._setup_processes(device, device_map)
        self._load(model_path, mask_id, max_length, dict(
            device=device, dtype=dtype, adapter=peft, quantization=quantization, device_map=device_map,
            max_memory=max_memory, offload_folder=offload_folder))

    def _read_sampling_options(self, batch_size, mc_num, forward_batch, is_check_greedy, cfg, steps, gen_length,
                               block_length, remasking, temperature, logits_eos_inf, confidence_eos_eot_inf, fast):
        """The model_args of likelihood and sampling as numbers and booleans (lm-eval passes strings), every
        sampling option checked now, not at the first generation request hours into a run."""
        self.batch_size = int(batch_size)
        self.mc_num = int(mc_num)
        if self.mc_num <= 0 or self.batch_size <= 0 or self.mc_num % self.batch_size:
            raise ValueError(f"mc_num={self.mc_num} must be a positive multiple of batch_size={self.batch_size} "
                             f"(each Monte Carlo round masks batch_size copies); e.g. mc_num=128,batch_size=32")
        self.forward_batch = max(int(forward_batch or self.batch_size), self.batch_size)
        self.is_check_greedy = _as_bool(is_check_greedy)
        self.cfg = float(cfg)  # the model_arg's name; generate()'s cfg_scale
        self.steps, self.gen_length, self.block_length = int(steps), int(gen_length), int(block_length)
        self.remasking = remasking
        self.temperature = float(temperature)
        self.logits_eos_inf = _as_bool(logits_eos_inf)
        self.confidence_eos_eot_inf = _as_bool(confidence_eos_eot_inf)
        self.fast = parse_fast_options(**fast)
        check_sampling_options(self.steps, self.gen_length, self.block_length, self.temperature, self.cfg,
                               self.remasking, self.fast["cache"], self.fast["threshold"], self.fast["factor"],
                               self.fast["early_exit"], self.logits_eos_inf)
        self.speed = SpeedRecord(dict(gen_length=self.gen_length, steps=self.steps, block_length=self.block_length,
                                      batch_size=self.batch_size, **self.fast))

    def _setup_processes(self, device, device_map):
        """Rank and world size (accelerate launch starts one process per device); returns the device to load on."""
        if device is not None and str(device).startswith("cuda") and not torch.cuda.is_available():
            device = None  # the harness passes --device cuda by default; take the first available instead
        self.accelerator = None
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if device_map is not None:
            if world_size > 1:
                raise ValueError("device_map splits one model over the GPUs of one process; run eval_llada.py "
                                 "without accelerate launch (or drop device_map to copy the model per process)")
            device = None  # the device_map places the model (lm-eval passes --device by default)
        if world_size > 1:
            import accelerate
            self.accelerator = accelerate.Accelerator()
            self._rank = self.accelerator.process_index
            self._world_size = self.accelerator.num_processes
            device = str(self.accelerator.device)
        else:
            self._rank, self._world_size = 0, 1
        return device

    def _load(self, model_path, mask_id, max_length, options):
        """The model and tokenizer (options: load_model_and_tokenizer's), their special ids and the context."""
        from modeling_llada import load_model_and_tokenizer
        self.model, self.tokenizer = load_model_and_tokenizer(model_path, **options)
        ids = special_ids(self.model, self.tokenizer, mask_id=mask_id)
        self.mask_id, self.eos_id, self.eot_id, self.pad_id = ids
        self.bos_id = self.tokenizer.bos_token_id
        model_max = model_max_length(self.model)
        self.max_length = min(int(max_length), model_max) if model_max else int(max_length)

    # ----------------------------------------------------------------------------------------------------
    # plumbing the harness needs
    @property
    def device(self):
        return self.model.device

    def all_gather(self, tensor):
        if self._world_size <= 1:
            return tensor
        return self.accelerator.gather(tensor)

    def gather_object(self, obj, dst=0):
        if self._world_size <= 1:
            return [obj]
        result = [None] * self._world_size if self._rank == dst else None
        torch.distributed.gather_object(obj, result, dst=dst)
        return result

    def barrier(self):
        if self._world_size > 1:
            self.accelerator.wait_for_everyone()

    @property
    def tokenizer_name(self):
        return self.tokenizer.name_or_path.replace("/", "__")

    def chat_template(self, chat_template=False):
        return self.tokenizer.chat_template if chat_template else None

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt,
                                                  continue_final_message=not add_generation_prompt)

    @classmethod
    def create_from_arg_string(cls, arg_string, additional_config=None):
        """model_args win over the harness's own --batch_size / --device (which it always passes)."""
        from lm_eval.utils import simple_parse_args_string
        args = simple_parse_args_string(arg_string or "")
        for key, value in (additional_config or {}).items():
            if value is not None and key not in args:
                args[key] = int(value) if key == "batch_size" and str(value).isdigit() else value
        if str(args.get("batch_size", "")).startswith("auto"):
            args.pop("batch_size")
        return cls(**args)

    @classmethod
    def create_from_arg_obj(cls, arg_dict, additional_config=None):
        args = dict(arg_dict)
        for key, value in (additional_config or {}).items():
            if value is not None and key not in args:
                args[key] = value
        if str(args.get("batch_size", "")).startswith("auto"):
            args.pop("batch_size")
        return cls(**args)

    def _encode(self, text, special_tokens=False):
        """Token ids of text. special_tokens=True: with whatever the tokenizer adds by default (a BOS for some
        tokenizers), as the reference's `tokenizer(text)` does, except that a text which already starts with
        the BOS token (a chat template's) gets no second one."""
        if special_tokens and self.tokenizer.bos_token and text.startswith(self.tokenizer.bos_token):
            special_tokens = False
        return self.tokenizer(text, add_special_tokens=special_tokens)["input_ids"]

    def _ends_with_special_token(self, text):
        return any(text.endswith(token) for token in self._special_token_strings)

    @property
    def _special_token_strings(self):
        if not hasattr(self, "_special_strings"):
            decoder = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
            strings = {t.content for t in decoder.values() if getattr(t, "special", False)}
            self._special_strings = tuple(sorted(strings | set(self.tokenizer.all_special_tokens)))
        return self._special_strings

    def _encode_pair(self, context, continuation):
        """As the reference: the context's trailing whitespace moves to the continuation, and the continuation's
        tokens are those of the whole string after the context's. One exception: whitespace right after a
        special token (the newlines that end a chat template's assistant header) stays in the prompt, where the
        model saw it in training; the reference never used chat templates."""
        stripped = context.rstrip()
        if self._ends_with_special_token(stripped):
            stripped = context.rstrip(" \t")
        spaces = len(context) - len(stripped)
        if spaces:
            continuation = context[-spaces:] + continuation
            context = context[:-spaces]
        whole = self._encode(context + continuation, special_tokens=True)
        context_ids = self._encode(context, special_tokens=True)
        if whole[:len(context_ids)] != context_ids:  # the tokenizer merged across the boundary
            return context_ids, self._encode(continuation)
        return context_ids, whole[len(context_ids):]

    # ----------------------------------------------------------------------------------------------------
    # likelihood
    @torch.no_grad()
    def _score(self, items, disable_tqdm=True):
        """items: list of (prompt ids, answer ids, seed). Returns get_log_likelihood.batched_log_likelihood's
        estimate of log p(answer | prompt) for each (mc_num / batch_size stratified rounds, cfg, the masks drawn
        from the item's seed), the requests of one length bucket right-padded to the bucket's length and their
        rounds packed forward_batch rows per model call (streamed, so memory stays at forward_batch rows)."""
        from tqdm import tqdm

        groups = defaultdict(list)
        for index, (prompt, answer, _) in enumerate(items):
            if len(answer) == 0:
                raise ValueError("a continuation is empty after tokenization; its log-likelihood is undefined")
            total = len(prompt) + len(answer)
            if total > self.max_length:
                raise ValueError(f"a request is {total} tokens (context {len(prompt)} + continuation "
                                 f"{len(answer)}), over max_length={self.max_length}; use fewer few-shot "
                                 f"examples or a model with a longer context")
            groups[bucket_length(total, self.pad_multiple, self.max_length)].append(index)
        results = [None] * len(items)
        progress = tqdm(total=len(items), desc="llada loglikelihood", disable=disable_tqdm or self._rank != 0)
        for length, indices in sorted(groups.items()):
            rows = torch.full((len(indices), length), self.pad_id, dtype=torch.long)
            # always pass the mask, so a row's numbers do not depend on its neighbours' padding
            attention = torch.zeros_like(rows)
            for row, index in enumerate(indices):
                tokens = items[index][0] + items[index][1]
                rows[row, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
                attention[row, :len(tokens)] = 1
            scores = batched_log_likelihood(
                self.model, rows, [len(items[i][0]) for i in indices], attention_mask=attention,
                seeds=[items[i][2] for i in indices], mc_num=self.mc_num, batch_size=self.batch_size,
                cfg_scale=self.cfg, mask_id=self.mask_id, forward_batch=self.forward_batch, progress=progress)
            for index, score in zip(indices, scores):
                results[index] = score
        progress.close()
        return results

    @torch.no_grad()
    def _greedy_matches(self, items):
        """For each (prompt ids, answer ids): does decoding the answer one token per step, committing the most
        confident masked position each time, reproduce it? Requests of equal shape run together."""
        results = [None] * len(items)
        groups = defaultdict(list)
        for index, (prompt, answer) in enumerate(items):
            groups[(len(prompt), len(answer))].append(index)
        for (prompt_len, answer_len), indices in groups.items():
            for start in range(0, len(indices), self.forward_batch):
                chunk = indices[start:start + self.forward_batch]
                prompt = torch.tensor([items[i][0] for i in chunk], device=self.device)
                target = torch.tensor([items[i][1] for i in chunk], device=self.device)
                x = torch.cat([prompt, torch.full_like(target, self.mask_id)], dim=1)
                prompt_index = torch.zeros_like(x, dtype=torch.bool)
                prompt_index[:, :prompt_len] = True
                for _ in range(answer_len):
                    mask_index = x == self.mask_id
                    logits = model_logits(self.model, x, None, prompt_index, self.cfg, self.mask_id)
                    probabilities = torch.softmax(logits.float(), dim=-1)
                    confidence, prediction = probabilities.max(dim=-1)
                    confidence = torch.where(mask_index, confidence, -torch.inf)
                    position = confidence.argmax(dim=1)
                    rows = torch.arange(x.shape[0], device=x.device)
                    x[rows, position] = prediction[rows, position]
                matches = (x[:, prompt_len:] == target).all(dim=1).tolist()
                for i, match in zip(chunk, matches):
                    results[i] = bool(match)
        return results

    def loglikelihood(self, requests, disable_tqdm=False):
        items, greedy_items = [], []
        for request in requests:
            context, continuation = request.args
            prompt, answer = self._encode_pair(context, continuation)
            items.append((prompt, answer, request_seed(self.seed, "ll", context, continuation)))
            greedy_items.append((prompt, answer))
        scores = self._score(items, disable_tqdm)
        greedy = self._greedy_matches(greedy_items) if self.is_check_greedy else [False] * len(items)
        out = []
        for request, score, is_greedy in zip(requests, scores, greedy):
            out.append((score, is_greedy))
            self.cache_hook.add_partial("loglikelihood", request.args, (score, is_greedy))
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        """log p(text) for whole texts: the text is cut into windows of at most max_length tokens (one less
        when the tokenizer has a BOS, which becomes each window's one-token prompt) and the windows' Monte
        Carlo bounds are summed: a lower bound on the log-likelihood, like every estimate here."""
        prefix = [self.bos_id] if self.bos_id is not None else []
        window = self.max_length - len(prefix)
        items, owners = [], []
        for n, request in enumerate(requests):
            (text,) = request.args
            tokens = self._encode(text)
            if not tokens:
                raise ValueError("loglikelihood_rolling got an empty text")
            for w, start in enumerate(range(0, len(tokens), window)):
                items.append((prefix, tokens[start:start + window], request_seed(self.seed, "rolling", text, w)))
                owners.append(n)
        scores = self._score(items, disable_tqdm)
        totals = [0.0] * len(requests)
        for n, score in zip(owners, scores):
            totals[n] += score
        for request, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    # ----------------------------------------------------------------------------------------------------
    # generation
    def _generation_settings(self, gen_kwargs):
        gen_kwargs = dict(gen_kwargs or {})
        until = gen_kwargs.get("until") or []
        if isinstance(until, str):
            until = [until]
        max_gen_toks = gen_kwargs.get("max_gen_toks")
        max_gen_toks = int(max_gen_toks) if max_gen_toks is not None else None
        temperature = self.temperature
        if gen_kwargs.get("do_sample") and gen_kwargs.get("temperature") is not None:
            temperature = float(gen_kwargs["temperature"])
        length, steps, block = plan_generation(self.gen_length, self.steps, self.block_length, max_gen_toks,
                                               self.honor_max_gen_toks)
        return list(until), max_gen_toks, (length, steps, block, temperature)

    def _prompt_ids(self, context, gen_length):
        ids = self._encode(context, special_tokens=True)
        room = self.max_length - gen_length
        if len(ids) > room:
            if not self.truncation or room <= 0:
                raise ValueError(f"a generation request's context is {len(ids)} tokens; with gen_length "
                                 f"{gen_length} it exceeds max_length={self.max_length}. Lower gen_length, use "
                                 f"fewer few-shot examples, or pass truncation=True to keep the context's end")
            ids = ids[-room:]
        return ids

    @torch.no_grad()
    def generate_until(self, requests, disable_tqdm=False):
        """Answers in the requests' order. With batch_size 1, or when sampling, each prompt runs alone and unpadded
        (the reference's call); otherwise prompts of one task, length bucket and setting run together, left-padded
        to the bucket's length with the padding masked out of attention, so a prompt's answer depends only on its
        own bucket, never on the other prompts of its batch. Each batch's speed goes to its task in self.speed
        (on the first process, gathered from all)."""
        prepared, groups = [], defaultdict(list)
        for index, request in enumerate(requests):
            context, gen_kwargs = request.args
            until, max_gen_toks, setting = self._generation_settings(gen_kwargs)
            prompt = self._prompt_ids(context, setting[0])
            stochastic = setting[3] > 0 or self.remasking == "random"
            if stochastic or self.batch_size == 1:
                padded, single = len(prompt), index
            else:
                padded, single = bucket_length(len(prompt), self.pad_multiple, self.max_length - setting[0]), -1
            key = (request.task_name, setting, padded, single)
            prepared.append((context, prompt, until, max_gen_toks))
            groups[key].append(index)
        from tqdm import tqdm
        outputs = [None] * len(requests)
        speed = SpeedRecord()
        progress = tqdm(total=len(requests), desc="llada generate", disable=disable_tqdm or self._rank != 0)
        for (task, setting, padded, single), indices in groups.items():
            length, steps, block, temperature = setting
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                prompt, attention = left_pad([prepared[i][1] for i in chunk], self.pad_id, padded)
                if single >= 0:  # alone: unpadded, no attention mask, its own seed
                    torch.manual_seed(request_seed(self.seed, "gen", prepared[single][0]))
                    attention = None
                else:
                    attention = attention.to(self.device)
                stats, start_time = {}, time.perf_counter()
                out = generate(self.model, prompt.to(self.device), attention_mask=attention,
                               steps=steps, gen_length=length, block_length=block, temperature=temperature,
                               cfg_scale=self.cfg, remasking=self.remasking, mask_id=self.mask_id,
                               logits_eos_inf=self.logits_eos_inf, confidence_eos_eot_inf=self.confidence_eos_eot_inf,
                               eos_id=self.eos_id, eot_id=self.eot_id, stats=stats, **self.fast)
                answers = out[:, padded:].tolist()  # waits for the device, so the time below is the sampling's
                speed.add(task, len(chunk), length, stats, time.perf_counter() - start_time)
                for row, i in enumerate(chunk):
                    outputs[i] = self._postprocess(answers[row], prepared[i][2], prepared[i][3])
                progress.update(len(chunk))
        progress.close()
        this_call = SpeedRecord()
        for tasks in self.gather_object(speed.tasks) or []:  # every process's record, on the first process
            this_call.merge(tasks, side_by_side=True)
        self.speed.merge(this_call.tasks)
        for request, text in zip(requests, outputs):
            self.cache_hook.add_partial("generate_until", request.args, text)
        return outputs

    def _postprocess(self, tokens, until, max_gen_toks):
        """The answer's text from its tokens.

        Default (the reference's rule): decode with special tokens kept, cut at each stop sequence in turn (at its
        first occurrence in what is left), then drop the special tokens by re-tokenizing and decoding without
        them; text after an EOS stays. honor_max_gen_toks: first keep only max_gen_toks tokens. cut_at_eos:
        instead keep the tokens before the first EOS / EoT, decode them without special tokens and
        cut at the stop sequences the same way."""
        if self.honor_max_gen_toks and max_gen_toks is not None:
            tokens = tokens[:max_gen_toks]
        if self.cut_at_eos:
            tokens = cut_answer(tokens, {self.eos_id, self.eot_id})
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        else:
            text = self.tokenizer.decode(tokens, skip_special_tokens=False)
        for stop in until:
            if stop and stop in text:
                text = text[:text.index(stop)]
        if self.cut_at_eos:
            return text
        ids = self._encode(text, special_tokens=True)
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def main(argv=None):
    """The harness's command line with `--model llada_dist` as default and tasks/ on the include path."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("run", "ls", "validate"):
        command, argv = [argv[0]], argv[1:]
    else:
        command = ["run"]
    if command == ["run"] and "--model" not in argv:
        argv += ["--model", "llada_dist"]
    if "--include_path" not in argv:
        argv += ["--include_path", TASKS_DIR]
    sys.argv = [sys.argv[0]] + command + argv
    from lm_eval.__main__ import cli_evaluate
    LLaDAEvalHarness.last = None
    cli_evaluate()
    harness = LLaDAEvalHarness.last
    if command == ["run"] and harness is not None and harness.speed.tasks and harness._rank == 0:
        output = argparse.ArgumentParser(add_help=False)
        output.add_argument("--output_path", "-o")
        report_speed(harness.speed, output.parse_known_args(argv)[0].output_path)


def report_speed(speed, output_path):
    """Print the run's speed table and write it as speed_<date>.json beside the newest results file that lm-eval
    wrote for output_path: <folder>/<model>/results_<date>.json, or, for an output_path x.json, x_<date>.json."""
    print("llada_dist sampling speed (generation tasks):\n" + table(speed.summary()))
    if output_path is None:
        return
    if output_path.endswith(".json"):
        folder, prefix = os.path.dirname(output_path) or ".", os.path.basename(output_path)[:-len(".json")] + "_"
    else:
        folder, prefix = output_path, "results_"
    results = [os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
               if name.startswith(prefix) and name.endswith(".json")]
    if results:
        newest = max(results, key=os.path.getmtime)
        path = os.path.join(os.path.dirname(newest), "speed_" + os.path.basename(newest)[len(prefix):])
        speed.write(path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
