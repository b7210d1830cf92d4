"""Tiny random-weight Llama models with a locally trained tokenizer: no files, no hub.

Used by tests of the collator, the trainer and the HF generator. The tokenizer knows the special
tokens of every chat template in ``core.chat_templates`` and carries a ChatML Jinja template as
its own, so the "auto" template path can be exercised too.
"""

from __future__ import annotations

import functools

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>",
                  "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

CHATML_JINJA = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "move forward 2 m", "move backward 50 cm at 0.2 m/s", "turn left 90 deg", "turn right 1.5 rad",
    "arc forward 1 m left 90 deg", "stop", "query battery", "reply I can only drive the robot.",
    "You control a mobile robot. Answer with one action line: move, turn, arc, stop, query or reply.",
    "Move the robot forward 2 meters", "Rotate 90 degrees clockwise", "What is the battery level?",
    "system user assistant [INST] [/INST] <<SYS>> <</SYS>>", "0123456789 .,:;!?'\"()-+/*=%°π",
]


@functools.lru_cache(maxsize=None)
def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 4, trainer)
    return tok.to_str()


def make_tokenizer(chat_template: str | None = CHATML_JINJA):
    """A fresh PreTrainedTokenizerFast; pad (<pad>) differs from every end-of-turn token."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()), bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", pad_token="<pad>", additional_special_tokens=SPECIAL_TOKENS[4:])
    tok.chat_template = chat_template
    return tok


def make_model(tokenizer, seed: int = 0, hidden_size: int = 64, layers: int = 2):
    """A random LlamaForCausalLM sized for the tokenizer, in fp32 on CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).to(torch.float32).eval()


def make_sharp_model(tokenizer, seed: int = 0):
    """A tiny random model with weights scaled up: its output depends on the whole prompt.

    At the usual init scale a 64-wide random model answers every prompt alike, which would let a
    wrong prefix cache (or a wrong export) go unnoticed."""
    import torch

    model = make_model(tokenizer, seed=seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.mul_(10.0)
    return model


def save_sharp(path, seed: int = 0) -> str:
    """Write a sharp tiny model (``make_sharp_model``) + tokenizer to ``path`` and return it."""
    tok = make_tokenizer()
    make_sharp_model(tok, seed=seed).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def save_tiny(path, seed: int = 0) -> str:
    """Write a tiny model + tokenizer to ``path`` (a normal HF folder) and return it."""
    tok = make_tokenizer()
    model = make_model(tok, seed=seed)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)
