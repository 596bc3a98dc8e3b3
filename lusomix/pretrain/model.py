"""The model: a local Hugging Face checkpoint or a Llama built from the config, wrapped for DDP or FSDP2."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from lusomix.pretrain.config import PretrainConfig


def build_model(config: PretrainConfig, tokenizer) -> torch.nn.Module:
    """A local HF checkpoint (context and RoPE overridden by the config), or a Llama built from the config."""
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    m, context = config.model, config.data.context_length
    rope = {k: v for k, v in (m.rope_scaling or {}).items() if k != "type"}
    if m.rope_scaling:
        rope["rope_type"] = m.rope_scaling.get("rope_type", m.rope_scaling.get("type"))
    if m.rope_theta:
        rope["rope_theta"] = m.rope_theta
    if m.checkpoint is not None:
        hf_config = AutoConfig.from_pretrained(m.checkpoint, local_files_only=True)
        # context extension: the position budget grows, the RoPE change is the config's
        hf_config.max_position_embeddings = max(context, hf_config.max_position_embeddings)
        if rope:
            hf_config.rope_parameters = {**(getattr(hf_config, "rope_parameters", None) or {}), **rope}
        hf_config.use_cache = False
        model: Any = AutoModelForCausalLM.from_pretrained(
            m.checkpoint,
            config=hf_config,
            local_files_only=True,
            dtype=torch.float32,
            attn_implementation=m.attn_implementation,
        )
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    else:
        vocab = -(-len(tokenizer) // 64) * 64  # a multiple of 64 keeps the output matmul on fast kernels
        hf_config = LlamaConfig(
            vocab_size=vocab,
            hidden_size=m.hidden_size,
            num_hidden_layers=m.num_layers,
            num_attention_heads=m.num_heads,
            num_key_value_heads=m.num_kv_heads,
            intermediate_size=m.intermediate_size,
            max_position_embeddings=context,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, **rope},
            tie_word_embeddings=m.tie_embeddings,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            use_cache=False,
        )
        hf_config._attn_implementation = m.attn_implementation
        model = LlamaForCausalLM(hf_config)
    if m.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def wrap_model(model: Any, config: PretrainConfig, device: torch.device, bf16: bool):
    """DDP, or FSDP2 (`fully_shard` per decoder layer, then the whole model) for large models. ``model``: a
    Hugging Face causal LM (its decoder layers are ``model.model.layers``)."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.nn.parallel import DistributedDataParallel

    layers = model.model.layers
    if config.train.compile:
        for layer in layers:
            layer.compile()  # in place: state_dict keys stay the same, so checkpoints do not care
    if config.distributed.strategy == "fsdp":
        # FSDP casts parameters itself (bf16 compute, fp32 master weights and gradient reduction)
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32)
        for layer in layers:
            fully_shard(layer, mp_policy=policy)
        return fully_shard(model.to(device), mp_policy=policy)
    return DistributedDataParallel(model.to(device), device_ids=[device.index] if device.type == "cuda" else None)


def gradient_sync(model, enabled: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
    if hasattr(model, "no_sync"):
        return nullcontext() if enabled else model.no_sync()
    model.set_requires_gradient_sync(enabled)  # FSDP2
    return nullcontext()
