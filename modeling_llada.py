"""The LLaDA mask predictor as a transformers PreTrainedModel.

A LLaMA-style Transformer without the causal mask: every position attends to every position, and the
network does not see the diffusion time. Parameter names match the official checkpoints
(model.transformer.wte, model.transformer.blocks.{i}.q_proj, ..., model.transformer.ff_out), so
GSAI-ML/LLaDA-8B-Base/Instruct and LLaDA 1.5 load with no missing or unexpected keys and without remote
code. Importing this module registers LLaDAModelLM with AutoModel, AutoModelForCausalLM and
AutoModelForMaskedLM.

`load_model_and_tokenizer` at the bottom is the one loader every script of the project uses.
"""

import os
import re

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from transformers import (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer,
                          PreTrainedModel)
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import CausalLMOutputWithPast

try:  # a package (trust_remote_code copies both files next to each other)
    from .configuration_llada import LLaDAConfig
except ImportError:  # the flat repository layout
    from configuration_llada import LLaDAConfig

# Recent transformers renamed the output field past_key_values to cache (the old name still reads, with a
# deprecation warning); fill whichever this version's output class declares.
_OUTPUT_CACHE_FIELD = "cache" if "cache" in getattr(CausalLMOutputWithPast, "__dataclass_fields__", {}) \
    else "past_key_values"

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "llada-tiny-instruct")


class RMSNorm(nn.Module):
    def __init__(self, size, eps, affine):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size)) if affine else None

    def forward(self, x):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        out = x32.to(x.dtype)
        return out * self.weight if self.weight is not None else out


def rotary_cos_sin(position_ids, head_dim, theta, dtype):
    """cos/sin tables (b, 1, L, head_dim) for the rotate-half RoPE layout, built in float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32)
                                / head_dim))
    angles = position_ids.float()[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)[:, None]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class LLaDABlock(GradientCheckpointingLayer):
    """Pre-norm block: h = x + attn_out(attn(attn_norm(x))); out = h + ff_out(silu(ff_proj(n)) * up_proj(n)).

    A GradientCheckpointingLayer: after model.gradient_checkpointing_enable(), a training forward keeps only the
    block's inputs and recomputes the rest in the backward pass (the KV cache is for sampling, without gradients)."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        d, hd = config.d_model, config.head_dim
        self.config = config
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, hd
        self.attn_norm = RMSNorm(d, config.rms_norm_eps, config.layer_norm_with_affine)
        self.ff_norm = RMSNorm(d, config.rms_norm_eps, config.layer_norm_with_affine)
        self.q_proj = nn.Linear(d, config.n_heads * hd, bias=False)
        self.k_proj = nn.Linear(d, config.n_kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, config.n_kv_heads * hd, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ff_proj = nn.Linear(d, config.mlp_hidden_size, bias=False)
        self.up_proj = nn.Linear(d, config.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(config.mlp_hidden_size, d, bias=False)

    def attention(self, x, cos, sin, attn_mask, cache=None, layer_idx=0, cache_start=0):
        b, length, _ = x.shape
        q = self.q_proj(x).view(b, length, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.config.rope_full_precision:
            q, k = apply_rotary(q.float(), cos, sin).to(q.dtype), apply_rotary(k.float(), cos, sin).to(k.dtype)
        else:
            q, k = apply_rotary(q, cos.to(q.dtype), sin.to(q.dtype)), apply_rotary(k, cos.to(k.dtype), sin.to(k.dtype))
        if cache is not None:  # the cache holds K/V before the GQA repeat, so it stays n_heads/n_kv_heads smaller
            k, v = cache.update(k, v, layer_idx, cache_start)
        if self.n_kv_heads != self.n_heads:
            repeats = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(repeats, dim=1), v.repeat_interleave(repeats, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.attn_out(out.transpose(1, 2).reshape(b, length, -1))

    def forward(self, x, cos, sin, attn_mask, cache=None, layer_idx=0, cache_start=0):
        h = x + self.attention(self.attn_norm(x), cos, sin, attn_mask, cache, layer_idx, cache_start)
        n = self.ff_norm(h)
        return h + self.ff_out(F.silu(self.ff_proj(n)) * self.up_proj(n))


class LLaDACache:
    """Keys and values of every layer, (batch, n_kv_heads, length, head_dim) each, for a canvas that a masked
    diffusion sampler re-reads at every step (the approximate, block-wise KV cache of Fast-dLLM).

    Unlike an autoregressive cache it is not append-only: `update(k, v, layer, start)` writes the entries of
    positions start..start+len in place, and queries then attend over the whole stored length. Positions past
    the stored end extend it. This is what lets a sampler refresh only the active block (dual cache) or the
    block plus the masked suffix (prefix cache) while the rest of the canvas keeps its stored keys/values.
    """

    def __init__(self):
        self.keys, self.values = [], []

    def __len__(self):
        return len(self.keys)

    def get_seq_length(self, layer_idx=0):
        return self.keys[layer_idx].shape[-2] if layer_idx < len(self.keys) else 0

    def batch_select_indices(self, indices):
        """Keep only the cache rows `indices` (in place; transformers' Cache method of that name): a sampler
        drops the rows of answers that left its batch."""
        self.keys = [k[indices] for k in self.keys]
        self.values = [v[indices] for v in self.values]

    def update(self, key, value, layer_idx, start=0):
        if layer_idx == len(self.keys):
            if start != 0:
                raise ValueError(f"an empty cache must be filled from position 0 (got cache_position {start})")
            self.keys.append(key)
            self.values.append(value)
            return key, value
        stored_k, stored_v = self.keys[layer_idx], self.values[layer_idx]
        end = start + key.shape[-2]
        if start > stored_k.shape[-2]:
            raise ValueError(f"cache_position starts at {start}, past the cached length {stored_k.shape[-2]}")
        if stored_k.shape[0] != key.shape[0]:
            raise ValueError(f"batch size {key.shape[0]} differs from the cache's {stored_k.shape[0]}")
        if end <= stored_k.shape[-2]:
            stored_k[:, :, start:end] = key
            stored_v[:, :, start:end] = value
        else:
            self.keys[layer_idx] = stored_k = torch.cat([stored_k[:, :, :start], key], dim=2)
            self.values[layer_idx] = stored_v = torch.cat([stored_v[:, :, :start], value], dim=2)
        return stored_k, stored_v


class LLaDAModel(nn.Module):
    """Holds `transformer` (wte, blocks, ln_f, ff_out), the module tree of the official checkpoints."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        self.config = config
        modules = dict(
            wte=nn.Embedding(config.embedding_size, config.d_model),
            blocks=nn.ModuleList(LLaDABlock(config) for _ in range(config.n_layers)),
            ln_f=RMSNorm(config.d_model, config.rms_norm_eps, config.layer_norm_with_affine),
        )
        if not config.weight_tying:
            modules["ff_out"] = nn.Linear(config.d_model, config.embedding_size, bias=False)
        self.transformer = nn.ModuleDict(modules)

    def attention_bias(self, attention_mask, query_positions, key_length, device):
        """Boolean mask of allowed query->key pairs, broadcastable to (b, 1, Lq, Lk), or None when everything is
        allowed. attention_mask covers every key position (the cached ones too), as in transformers."""
        allowed = None
        if attention_mask is not None:
            if attention_mask.shape[-1] != key_length:
                raise ValueError(f"attention_mask covers {attention_mask.shape[-1]} positions but attention runs "
                                 f"over {key_length} keys (with a cache it must cover the whole cached canvas)")
            allowed = attention_mask.bool()[:, None, None, :]
        if self.config.causal:
            keys = torch.arange(key_length, device=device)
            causal = (keys[None, None, None, :] <= query_positions[:, None, :, None])
            allowed = causal if allowed is None else allowed & causal
        return allowed

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        """Logits (b, L, embedding_size); the cache arguments of forward_with_cache are accepted too."""
        return self.forward_with_cache(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                       **kwargs)[0]

    def forward_with_cache(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None,
                           use_cache=False, cache_position=None, logits_to_keep=0):
        """Returns (logits, cache or None); see LLaDAModelLM.forward for the arguments."""
        b, length = input_ids.shape
        if cache_position is None:
            start = past_key_values.get_seq_length() if past_key_values is not None else 0
        else:
            start = int(cache_position[0]) if torch.is_tensor(cache_position) else int(cache_position)
        if position_ids is None:
            position_ids = torch.arange(start, start + length, device=input_ids.device).expand(b, length)
        cache = past_key_values
        if cache is None and use_cache:
            if start != 0:
                raise ValueError("cache_position must start at 0 when no past_key_values are given")
            cache = LLaDACache()
        key_length = length if cache is None else max(cache.get_seq_length(), start + length)
        x = self.transformer.wte(input_ids)
        cos, sin = rotary_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta, torch.float32)
        attn_mask = self.attention_bias(attention_mask, position_ids, key_length, input_ids.device)
        for i, block in enumerate(self.transformer.blocks):
            x = block(x, cos, sin, attn_mask, cache=cache, layer_idx=i, cache_start=start)
        x = keep_positions(x, logits_to_keep)
        x = self.transformer.ln_f(x)
        if self.config.weight_tying:
            logits = F.linear(x, self.transformer.wte.weight)
        else:
            logits = self.transformer.ff_out(x)
        return logits, cache


def keep_positions(hidden, logits_to_keep):
    """The positions the lm head runs on: 0 = all, int n = the last n, a slice, or a 1-D LongTensor of indices."""
    if isinstance(logits_to_keep, slice):
        return hidden[:, logits_to_keep]
    if torch.is_tensor(logits_to_keep):
        return hidden.index_select(1, logits_to_keep.to(hidden.device))
    if logits_to_keep:
        return hidden[:, -int(logits_to_keep):]
    return hidden


class LLaDAModelLM(PreTrainedModel):
    """The mask predictor: `model(input_ids, attention_mask)` returns logits (b, L, embedding_size) for every
    position. `attention_mask` (b, L) with 0 at padding keeps padded keys out of every query's attention."""

    config_class = LLaDAConfig
    base_model_prefix = "model"
    _no_split_modules = ["LLaDABlock"]
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: LLaDAConfig):
        super().__init__(config)
        self.model = LLaDAModel(config)
        self.post_init()

    def _init_weights(self, module):
        std = self.config.init_std
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, RMSNorm) and module.weight is not None:
            nn.init.ones_(module.weight)

    def get_input_embeddings(self):
        return self.model.transformer.wte

    def set_input_embeddings(self, value):
        self.model.transformer.wte = value

    def get_output_embeddings(self):
        return None if self.config.weight_tying else self.model.transformer.ff_out

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=None,
                cache_position=None, logits_to_keep=0, labels=None, return_dict=None, cache=None, **kwargs):
        """input_ids (b, Lq). attention_mask (b, Lk), 0 at padding, over every key position: the whole canvas,
        cached positions included. position_ids (b, Lq): default cache_position (or 0..Lq-1).

        KV cache (see LLaDACache): with use_cache=True and no past_key_values, a cache of this call's keys and
        values is returned in the output's `cache` field (`past_key_values` in transformers versions before that
        rename; the argument may be passed under either name). With a cache, input_ids are the tokens at positions
        cache_position (a LongTensor of consecutive positions, or its first position as an int; default: the
        cache's end); their keys/values are written into the cache in place, queries attend over the whole
        cache, and the updated cache is returned. logits_to_keep: 0 = logits for every input position, n = the
        last n, a slice or a LongTensor of indices into the input positions (the lm head runs only there)."""
        if cache is not None:  # the name transformers >= 5.2x uses for past_key_values
            past_key_values = cache
        use_cache = bool(use_cache) or past_key_values is not None
        logits, cache = self.model.forward_with_cache(
            input_ids, attention_mask=attention_mask, position_ids=position_ids, past_key_values=past_key_values,
            use_cache=use_cache, cache_position=cache_position, logits_to_keep=logits_to_keep)
        loss = None
        if labels is not None:  # plain token-level cross entropy; the diffusion objectives live in train.py
            labels = keep_positions(labels[..., None], logits_to_keep)[..., 0]
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits, **{_OUTPUT_CACHE_FIELD: cache if use_cache else None})


for _auto_class in (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM):
    _auto_class.register(LLaDAConfig, LLaDAModelLM, exist_ok=True)


def default_device():
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def patch_tokenizer(tokenizer, config):
    """Make official LLaDA tokenizers usable as they are by the scripts: declare the mask token from the
    config's mask_token_id (the official tokenizer does not) and give the pad token a value (EOS)."""
    mask_id = getattr(config, "mask_token_id", None)
    if tokenizer.mask_token_id is None and mask_id is not None:
        tokenizer.mask_token = tokenizer.convert_ids_to_tokens(mask_id)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def check_user_text(tokenizer, text):
    """ValueError when user text is not valid UTF-8 (undecodable bytes in an argument or a terminal arrive as
    surrogates) or holds a token string of the chat format or the sampler (<|eot_id|>, <|start_header_id|>,
    <|mdm_mask|>, ...): the tokenizer would read it as the real token, so a typed
    <|eot_id|><|start_header_id|>assistant... forges turns and typed masks eat the answer's steps."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the text holds bytes that are not UTF-8; send it as UTF-8 text") from None
    found = sorted({token.content for token in tokenizer.added_tokens_decoder.values() if token.content in text})
    if found:
        raise ValueError(f"the text contains {', '.join(found)}, reserved for the model's chat format; remove "
                         f"{'it' if len(found) == 1 else 'them'} and send it again")


QUANTIZATIONS = ("int8", "int4")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")


def quantization_config(quantization, compute_dtype=None):
    """transformers' BitsAndBytesConfig for a weight quantisation of the blocks' linear layers (the embedding, the
    norms and the output head stay in the model's dtype):
    'int8': LLM.int8() (int8 weights with one scale per output row; at run time each input row is quantised to
      int8 too, and input features above 6.0 in magnitude go through a 16-bit matmul instead);
    'int4': NF4 with double-quantised scales (4.1 bits a weight), dequantised to compute_dtype for each matmul
      (the QLoRA format of train.py --qlora). compute_dtype None: float32."""
    from transformers import BitsAndBytesConfig
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ValueError(f"quantization={quantization!r} needs bitsandbytes (pip install bitsandbytes)") from None
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantization == "int4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute_dtype or torch.float32)
    raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)} or none (got {quantization!r})")


def parse_max_memory(text):
    """'0:20GiB,1:20GiB,cpu:64GiB' (or with ; or = between) -> {0: '20GiB', 1: '20GiB', 'cpu': '64GiB'}, the
    max_memory of accelerate's device_map: a GPU index or cpu, each with its budget."""
    if isinstance(text, dict) or text is None:
        return text
    budgets = {}
    for item in re.split(r"[,;]", text):
        if not item.strip():
            continue
        key, sep, value = item.strip().replace("=", ":").partition(":")
        if not sep or not value.strip():
            raise ValueError(f"max_memory: {item!r} is not DEVICE:SIZE (e.g. 0:20GiB,1:20GiB,cpu:64GiB)")
        key = key.strip()
        budgets[int(key) if key.isdigit() else key] = value.strip()
    return budgets


def _drop_int8_cast_notice(record):
    return "inputs will be cast from" not in record.getMessage()


def load_model_and_tokenizer(model_name_or_path=None, device=None, dtype=None, adapter=None, quantization=None,
                             device_map=None, max_memory=None, offload_folder=None):
    """Load a LLaDA checkpoint (hub id or local path; default: the bundled tiny model) for inference.

    device: 'cuda', 'mps' or 'cpu' (default: the first available). dtype: torch dtype or its name, or 'auto'
    for the checkpoint's own (default: bfloat16 on a GPU, float32 on the CPU). adapter: a PEFT (LoRA) adapter
    directory, e.g. a train.py --lora_r run's final/; its weights are merged into the base model, so the result
    is a plain LLaDAModelLM (same outputs, no per-call cost), and the tokenizer saved with the adapter is used.
    With an adapter and no model_name_or_path, the base is the one recorded in the adapter's config.
    quantization: None / 'none', 'int8' or 'int4' (bitsandbytes, see quantization_config; on a CUDA GPU or the
    CPU): the blocks' weights are quantised as they load. An adapter is merged into the quantised weights.
    device_map: 'auto', 'balanced', 'balanced_low_0', 'sequential' or a dict {module name: device}: accelerate's
    big-model dispatch, whole LLaDABlocks spread over the GPUs (then the CPU, then offload_folder on disk) within
    max_memory ({0: '20GiB', 'cpu': '64GiB'} or its string form, see parse_max_memory); inputs go to
    model.device, the embedding's device, and the logits come back there. Not with device or adapter.
    Returns (model in eval mode, tokenizer).
    """
    quantization, max_memory = _check_placement(quantization, device, device_map, max_memory, offload_folder,
                                                adapter)
    path = _model_path(model_name_or_path, adapter)
    device, dtype = _device_and_dtype(device, dtype, quantization, device_map)
    options = _placement_options(quantization, device, dtype, device_map, max_memory, offload_folder)
    model = _from_pretrained(path, dtype, options, quantization, device_map, max_memory)
    if adapter is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    if device_map is not None and model.device.type == "meta":
        raise ValueError(f"the device_map offloads the embedding ({model.hf_device_map}); give the first device "
                         f"more max_memory")
    if not options:  # a device_map (or bitsandbytes) already placed the weights
        model = model.to(device)
    model = model.eval()
    saved_with_adapter = adapter is not None and os.path.isfile(os.path.join(adapter, "tokenizer_config.json"))
    tokenizer = patch_tokenizer(AutoTokenizer.from_pretrained(adapter if saved_with_adapter else path), model.config)
    return model, tokenizer


def _check_placement(quantization, device, device_map, max_memory, offload_folder, adapter):
    """load_model_and_tokenizer's quantization (None for 'none') and max_memory (parsed), after checking that the
    placement options go together."""
    if quantization in (None, "none"):
        quantization = None
    elif quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)} or none (got {quantization!r})")
    max_memory = parse_max_memory(max_memory)
    if device_map is not None:
        if isinstance(device_map, str) and device_map not in DEVICE_MAPS:
            raise ValueError(f"device_map must be one of {', '.join(DEVICE_MAPS)} or a dict of module -> device "
                             f"(got {device_map!r})")
        if device is not None:
            raise ValueError(f"give device or device_map, not both (got device={device!r}, "
                             f"device_map={device_map!r})")
        if adapter is not None:
            raise ValueError("device_map does not take an adapter: merge it first (python train.py merge --adapter "
                             "ADAPTER --out DIR) and load DIR with device_map")
    elif max_memory is not None or offload_folder is not None:
        raise ValueError("max_memory and offload_folder only apply with a device_map (e.g. device_map='auto')")
    return quantization, max_memory


def _model_path(model_name_or_path, adapter):
    """The checkpoint to load: the one given, else an adapter's base, else the bundled model."""
    if adapter is not None and model_name_or_path is None:
        from peft import PeftConfig
        model_name_or_path = PeftConfig.from_pretrained(adapter).base_model_name_or_path
        if not model_name_or_path:
            raise ValueError(f"the adapter {adapter} does not name its base model; pass the base model too")
    path = model_name_or_path or DEFAULT_MODEL
    if path == DEFAULT_MODEL and not os.path.isdir(path):
        raise FileNotFoundError(f"the bundled model is missing at {path}; pass --model with a LLaDA checkpoint")
    return path


def _device_and_dtype(device, dtype, quantization, device_map):
    """The device (default: the first available) and torch dtype (default: bfloat16 on a GPU, float32 on the
    CPU), checked against this torch build and the quantization."""
    device = device or default_device()
    if isinstance(dtype, str) and dtype != "auto":
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16, float16 or auto (got {dtype!r})")
        dtype = getattr(torch, dtype)
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this torch build sees no CUDA GPU; use --device cpu "
                         f"or install a CUDA build of torch")
    if quantization and device_map is None and str(device).split(":")[0] not in ("cuda", "cpu"):
        raise ValueError(f"quantization={quantization!r} runs on a CUDA GPU or the CPU (bitsandbytes), not on "
                         f"{device!r}")
    return device, dtype or (torch.float32 if device == "cpu" else torch.bfloat16)


def _placement_options(quantization, device, dtype, device_map, max_memory, offload_folder):
    """from_pretrained's device_map / max_memory / offload_folder / quantization_config ({} for a plain load,
    moved to the device afterwards)."""
    options = {}
    if device_map is not None:
        options = dict(device_map=device_map, offload_folder=offload_folder,  # a copy: transformers rewrites it
                       max_memory=dict(max_memory) if max_memory is not None else None)
    elif quantization:
        options = dict(device_map={"": device})  # bitsandbytes quantises the weights where they are placed
    if quantization:
        options["quantization_config"] = quantization_config(
            quantization, dtype if isinstance(dtype, torch.dtype) else None)
        if quantization == "int8":  # bitsandbytes logs this at every call when the model is not in float16
            import logging
            logging.getLogger("bitsandbytes.autograd._functions").addFilter(_drop_int8_cast_notice)
    return options


def _from_pretrained(path, dtype, options, quantization, device_map, max_memory):
    """AutoModel.from_pretrained with a clear error for a split bitsandbytes cannot run, and the config's special
    token ids checked against the vocabulary."""
    try:
        model = AutoModel.from_pretrained(path, dtype=dtype, **options)
    except ValueError as error:
        if quantization and "dispatched on the CPU or the disk" in str(error):
            raise ValueError(f"device_map={device_map!r} offloads some {quantization} weights (to disk, or to the "
                             f"CPU beside GPUs), which bitsandbytes cannot run; give the devices more max_memory, "
                             f"or load unquantised") from None
        raise
    vocab = model.config.embedding_size or model.config.vocab_size
    for name in ("mask_token_id", "eos_token_id"):
        token = getattr(model.config, name, None)
        if token is not None and not 0 <= token < vocab:
            raise ValueError(f"{path}: config.json's {name} {token} lies outside the {vocab}-token vocabulary "
                             f"(a missing field takes LLaDA-8B's default); set it to the tokenizer's id")
    return model


def add_loading_args(parser):
    """The loading flags every script shares: --quantization, --device_map, --max_memory, --offload_folder (pass
    loading_options(args) on to load_for_script). Returns the parser."""
    group = parser.add_argument_group("weights", "quantisation and splitting across devices")
    group.add_argument("--quantization", choices=QUANTIZATIONS + ("none",), default=None,
                       help="quantise the blocks' weights as they load (bitsandbytes, on a CUDA GPU or the CPU): int8 "
                            "= LLM.int8(), int4 = NF4 (default: none)")
    group.add_argument("--device_map", choices=DEVICE_MAPS, default=None,
                       help="split the model over the GPUs (then CPU, then disk) by whole blocks with accelerate; "
                            "replaces --device (default: the whole model on --device)")
    group.add_argument("--max_memory", default=None, metavar="DEVICE:SIZE,...",
                       help="with --device_map: memory per device, e.g. 0:20GiB,1:20GiB,cpu:64GiB")
    group.add_argument("--offload_folder", default=None,
                       help="with --device_map: folder for the weights that fit on no device")
    return parser


def loading_options(args):
    """The keyword arguments of load_model_and_tokenizer that add_loading_args' flags gave."""
    return {name: getattr(args, name, None) for name in ("quantization", "device_map", "max_memory", "offload_folder")}


def load_for_script(parser, model_name_or_path=None, device=None, dtype=None, adapter=None, **options):
    """load_model_and_tokenizer for a command-line script: the loading chatter of transformers, PEFT and
    bitsandbytes (which PEFT imports) silenced, and a missing model or adapter or a bad device/dtype reported as
    the script's one-line usage error. options: load_model_and_tokenizer's quantization, device_map, max_memory,
    offload_folder (loading_options(args) of a parser with add_loading_args)."""
    import logging
    import warnings

    from transformers.utils import logging as transformers_logging
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return load_model_and_tokenizer(model_name_or_path, device=device, dtype=dtype, adapter=adapter,
                                            **options)
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        if adapter:
            what = f"the adapter {adapter!r}" + (f" on {model_name_or_path!r}" if model_name_or_path else "")
        else:
            what = f"the model {model_name_or_path or DEFAULT_MODEL!r}"
        parser.error(f"cannot load {what}: {error}")
