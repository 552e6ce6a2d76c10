"""LLaDAConfig: the configuration of the LLaDA mask predictor.

Field names follow the official checkpoints (GSAI-ML/LLaDA-8B-Base, -Instruct, LLaDA 1.5, iLLaDA),
whose config.json comes from the OLMo code base: d_model, n_heads, n_layers, ... Fields that the
official files carry but this implementation has no use for (init_fn, flash_attention, ...) are kept
as plain attributes so a loaded config saves back unchanged. Importing this module registers the
config with transformers' AutoConfig under model_type "llada".
"""

from transformers import AutoConfig, PretrainedConfig

# Defaults of the LLaDA-8B tokenizer; real ids always come from the config or tokenizer.
DEFAULT_MASK_TOKEN_ID = 126336
DEFAULT_EOS_TOKEN_ID = 126081

# Options of the OLMo format that LLaDA checkpoints never switch on. A config asking for one is refused
# rather than silently computed differently.
_UNSUPPORTED_IF_TRUE = ("alibi", "scale_logits", "input_emb_norm", "attention_layer_norm", "include_bias",
                        "bias_for_layer_norm", "include_qkv_bias")


class LLaDAConfig(PretrainedConfig):
    model_type = "llada"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        d_model=4096,
        n_heads=32,
        n_kv_heads=None,
        n_layers=32,
        mlp_hidden_size=12288,
        vocab_size=126464,
        embedding_size=None,
        max_sequence_length=4096,
        rope=True,
        rope_theta=500000.0,
        rope_full_precision=True,
        activation_type="silu",
        block_type="llama",
        layer_norm_type="rms",
        rms_norm_eps=1e-5,
        layer_norm_with_affine=True,
        weight_tying=False,
        init_std=0.02,
        causal=False,
        mask_token_id=DEFAULT_MASK_TOKEN_ID,
        eos_token_id=DEFAULT_EOS_TOKEN_ID,
        pad_token_id=DEFAULT_EOS_TOKEN_ID,
        use_cache=False,
        **kwargs,
    ):
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        self.n_layers = n_layers
        self.mlp_hidden_size = mlp_hidden_size
        self.vocab_size = vocab_size
        self.embedding_size = vocab_size if embedding_size is None else embedding_size
        self.max_sequence_length = max_sequence_length
        self.rope = rope
        self.rope_theta = rope_theta
        self.rope_full_precision = rope_full_precision
        self.activation_type = activation_type
        self.block_type = block_type
        self.layer_norm_type = layer_norm_type
        self.rms_norm_eps = rms_norm_eps
        self.layer_norm_with_affine = layer_norm_with_affine
        self.weight_tying = weight_tying
        self.init_std = init_std
        self.causal = causal
        self.mask_token_id = mask_token_id
        self.use_cache = use_cache
        kwargs.setdefault("tie_word_embeddings", weight_tying)
        kwargs.setdefault("architectures", ["LLaDAModelLM"])
        kwargs.setdefault("auto_map", {
            "AutoConfig": "configuration_llada.LLaDAConfig",
            "AutoModel": "modeling_llada.LLaDAModelLM",
            "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
        })
        super().__init__(eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kwargs)
        self._validate()

    @property
    def head_dim(self):
        return self.d_model // self.n_heads

    def _validate(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads={self.n_heads} must be a multiple of n_kv_heads={self.n_kv_heads}")
        if self.embedding_size < self.vocab_size:
            raise ValueError(f"embedding_size={self.embedding_size} must be at least vocab_size={self.vocab_size}")
        if self.block_type != "llama" or self.layer_norm_type != "rms" or not self.rope:
            raise ValueError("only block_type 'llama' with layer_norm_type 'rms' and rope=true is implemented "
                             f"(got {self.block_type!r}, {self.layer_norm_type!r}, rope={self.rope})")
        if self.activation_type not in ("silu", "swiglu"):
            raise ValueError(f"activation_type must be 'silu' (got {self.activation_type!r})")
        switched_on = [name for name in _UNSUPPORTED_IF_TRUE if getattr(self, name, False)]
        if switched_on:
            raise ValueError(f"unsupported LLaDA config options set to true: {', '.join(switched_on)}")


AutoConfig.register("llada", LLaDAConfig, exist_ok=True)
