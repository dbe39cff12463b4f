"""Small pure functions in the style of a utility library: the second module the captured
chat replies of tests/data/oracle/replies.json were asked about."""

from __future__ import annotations


def camel2under(camel_string: str) -> str:
    out: list[str] = []
    for index, char in enumerate(camel_string):
        if char.isupper() and index > 0:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def under2camel(under_string: str) -> str:
    return "".join(word.capitalize() or "_" for word in under_string.split("_"))


def chunked(items: list[int], size: int) -> list[list[int]]:
    if size < 1:
        raise ValueError("size must be positive")
    return [items[i : i + size] for i in range(0, len(items), size)]


def ordinalize(number: int) -> str:
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def mean(values: list[float]) -> float:
    if not values:
        raise ValueError("mean of nothing")
    return sum(values) / len(values)


def bytes2human(nbytes: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if abs(nbytes) < 1024:
            return f"{nbytes}{unit}"
        nbytes //= 1024
    return f"{nbytes}T"
