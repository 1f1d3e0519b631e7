"""Tiny random-weight causal LMs built from a config, for tests, smoke runs and benchmarks.

No model hub is reachable in CI or on the lent GPU machine, so every check that
needs "a model" builds one here: a byte-level BPE tokenizer trained on a few
texts (so Outlines can map every token to bytes) and a Llama model of any size.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: A minimal ChatML template, the format SmolLM2 uses, for tokenizers that ship none.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer(texts: Iterable[str], out_dir: Path, vocab_size: int = 600):
    """Train a byte-level BPE tokenizer on ``texts`` and save it as a HF fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
    )
    fast.chat_template = CHATML_TEMPLATE
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast


def build_model(
    out_dir: Path,
    vocab_size: int,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate_size: int | None = None,
    max_positions: int = 2048,
    seed: int = 0,
    save: bool = True,
):
    """A random-weight Llama of the given shape (saved to ``out_dir`` when ``save``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if save:
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
    return model


def build_tiny_checkpoint(out_dir: Path, texts: Iterable[str], vocab_size: int = 600, **shape) -> Path:
    """Tokenizer + model in one folder: a path any ``--base-model`` option accepts."""
    tokenizer = build_tokenizer(texts, out_dir, vocab_size)
    build_model(out_dir, vocab_size=len(tokenizer), **shape)
    return out_dir
