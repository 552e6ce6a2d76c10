"""The evaluation harnesses take a LoRA adapter under their own conventions: lm-eval's model_arg `peft`
(llada_dist) merges it into the model as the one loader does."""

import torch

from tiny_models import tiny_checkpoint


def save_adapter(base_path, adapter_path):
    """A LoRA adapter on the blocks' attention with non-zero weights, so that merging changes the outputs."""
    from peft import LoraConfig, get_peft_model

    from modeling_llada import LLaDAModelLM
    torch.manual_seed(1)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(LLaDAModelLM.from_pretrained(base_path), config).save_pretrained(adapter_path)


def test_llada_dist_merges_the_peft_model_arg(tmp_path):
    from eval_llada import LLaDAEvalHarness
    from modeling_llada import load_model_and_tokenizer

    base = tiny_checkpoint(str(tmp_path / "base"), weights="init")
    save_adapter(base, str(tmp_path / "adapter"))
    ids = torch.tensor([[5, 6, 7, 8]])
    plain = LLaDAEvalHarness(model_path=base, device="cpu").model(ids).logits
    adapted = LLaDAEvalHarness(model_path=base, peft=str(tmp_path / "adapter"), device="cpu").model(ids).logits
    merged, _ = load_model_and_tokenizer(base, device="cpu", adapter=str(tmp_path / "adapter"))
    assert not torch.allclose(plain, adapted)
    assert torch.equal(adapted, merged(ids).logits)
