"""What the model commands print about models: a GGUF file's facts and the model cache."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from review_bot.config import Settings
from review_bot.llm import ModelInfo, catalog
from review_bot.llm.models import auto_strategies, stop_tokens


def system_role(info: ModelInfo) -> str:
    """Whether the model's chat template takes a system message as it is."""
    if not info.chat_template:
        return "no chat template"
    from review_bot.llm.chat import _ENV, TemplateRejected

    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    try:
        _ENV.from_string(info.chat_template).render(
            messages=messages,
            bos_token=info.bos_token,
            eos_token=info.eos_token,
            add_generation_prompt=True,
        )
    except TemplateRejected as exc:
        return f"not supported ({exc}): folded into the first user turn"
    except Exception as exc:  # a broken template in a model file: report, do not crash
        return f"template error: {type(exc).__name__}: {exc}"
    return "supported"


def model_facts(info: ModelInfo, settings: Settings) -> dict[str, Any]:
    if settings.strategy == "auto":
        strategies: list[str] = list(auto_strategies(info))
        chosen = "auto: " + ", then ".join(strategies)
    else:
        strategies = [settings.strategy]
        chosen = f"{settings.strategy} (set in the configuration)"
    return {
        "path": info.path,
        "name": info.name,
        "architecture": info.arch,
        "parameters": info.n_params,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "chat_template": info.chat_template is not None,
        "system_role": system_role(info),
        "fim": None
        if info.fim is None
        else {
            "family": info.fim.family,
            "tokens": [info.fim.prefix, info.fim.suffix, info.fim.middle],
            "stop": list(info.fim.stop),
        },
        "bos_token": info.bos_token,
        "eos_token": info.eos_token,
        "stop_tokens": list(stop_tokens(info)),
        "strategies": strategies,
        "strategy": chosen,
        "bundled": info.bundled,
    }


def params_text(n: int | None) -> str:
    """A parameter count as people write it: 135.0M, 7.0B."""
    if n is None:
        return "unknown"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def facts_text(facts: Mapping[str, Any]) -> str:
    """`models info` without --json."""
    fim = facts["fim"]
    lines = [
        f"path:           {facts['path']}" + (" (the default model)" if facts["bundled"] else ""),
        f"name:           {facts['name']}",
        f"architecture:   {facts['architecture']}",
        f"parameters:     {params_text(facts['parameters'])}",
        f"quantization:   {facts['quantization'] or 'unknown'}",
        f"context length: {facts['context_length'] or 'unknown'}",
        f"chat template:  {'yes' if facts['chat_template'] else 'no'}",
        f"system role:    {facts['system_role']}",
        "FIM tokens:     "
        + ("none" if fim is None else f"{fim['family']} {' '.join(fim['tokens'])}"),
        f"stop tokens:    {' '.join(facts['stop_tokens'])}",
        f"strategy:       {facts['strategy']}",
    ]
    if "runtime" in facts:
        from review_bot.llm.gpu import runtime_text

        lines.append(f"runtime:        {runtime_text(facts['runtime'])}")
    return "\n".join(lines) + "\n"


def model_lines(info: ModelInfo, settings: Settings) -> list[str]:
    """The model, as `doctor` describes it."""
    facts = model_facts(info, settings)
    return [
        f"model: {info.path}" + (" (the default model)" if info.bundled else ""),
        f"  {info.arch}, {params_text(info.n_params)} parameters, "
        f"{info.quantization or 'unknown quantization'}, context {info.context_length}",
        f"  chat template: {'yes' if info.chat_template else 'no'}; "
        f"system role: {facts['system_role']}; "
        f"FIM: {info.fim.family if info.fim else 'none'}",
        f"  strategy: {facts['strategy']}",
    ]


def listing_json(home: Path) -> dict[str, Any]:
    """`models list --json`: the model cache, and what `models pull` could add."""
    local = catalog.local_models(home)
    return {
        "dir": str(catalog.models_dir(home)),
        "models": [
            {
                "name": m.name,
                "path": None if m.path is None else str(m.path),
                "size": m.size,
                "note": m.note or None,
            }
            for m in local
        ],
        "available": [e._asdict() for e in _available(local)],
    }


def listing_lines(home: Path) -> list[str]:
    """`models list` without --json."""
    local = catalog.local_models(home)
    available = _available(local)
    lines = [f"model cache: {catalog.models_dir(home)}"]
    width = max((len(m.name) for m in local), default=4)
    for model in local:
        size = catalog.human_size(model.size)
        where = "(not assembled)" if model.path is None else str(model.path)
        note = f"  ({model.note})" if model.note else ""
        lines.append(f"  {model.name:<{width}}  {size:>9}  {where}{note}")
    if available:
        lines.append("available with `review-bot models pull NAME`:")
        width = max(len(e.name) for e in available)
        for entry in available:
            lines.append(f"  {entry.name:<{width}}  {entry.size:>7}  {entry.description}")
    return lines


def _available(local: list[catalog.LocalModel]) -> list[catalog.CatalogEntry]:
    have = {m.name for m in local}
    return [e for e in catalog.CATALOG.values() if e.name not in have]
