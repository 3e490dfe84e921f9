"""The text guard of a reply (llm/grounding.py decides the names): a `TextGuard` releases the reply's text as it
streams and never releases a name it must avoid.

The names are given as `fold` writes them (`grounding.avoid_names` folds them) and looked for so in the text:
each character NFKC-normalised (full-width letters as ASCII) and casefolded, format characters (zero-width spaces and
joiners, soft hyphens) and markdown's emphasis and code marks (`*`, `_`, `~`, backtick) left out, each run of
whitespace one space. Character by character, so that a text folds the same whether it comes whole or in pieces.

Everything is released at once but the text's longest tail that is the beginning of a name, held
until it either completes one or stops matching: the first piece that cannot start a name goes out as it comes.
That takes the set of the names' prefixes, built once per reply at the first streamed piece; a text read whole
(`release(..., final=True)` with all of it) holds nothing back and needs none. Each piece is scanned with the held
tail only, never the whole text again.

When a name is found, the text from it through the end of its sentence (of the next one, if the name runs past
it) is left out; what came before it in its sentence may be out already. Such a fragment ("I recommend ") is then
closed with "…", so the next sentence does not read as its continuation ("I recommend … Enjoy."); a sentence the
name starts is left out with no mark, as a whole. What follows a cut is scanned with the end of the released text
before it, so no name forms across the cut. Released in pieces or whole, a text gives the same output.
"""

import re
import unicodedata
from functools import cache

_END_MARKS = ".!?\u3002\uff01\uff1f"
_CLOSERS = "\"')]"
_SENTENCE_END = re.compile(rf"(?:[{re.escape(_END_MARKS)}]+[{re.escape(_CLOSERS)}]*\s+|\n+)")
CUT_MARK = "\u2026"
_MARKUP = frozenset("*_~`")  # markdown emphasis and code marks, which a model may put inside a name


class TextGuard:
    """Feed `release` the pieces of one text in order, the last (possibly empty) with `final`; it returns what may
    be shown. `left_out`: how many passages (a name through the end of its sentence) were left out."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._prefixes: tuple[frozenset[str], frozenset[str]] | None = None  # the names' prefixes, and the names
        self._pending = ""  # not released: a tail that may still become a name, or the text being left out
        self._name_end: int | None = None  # a name was found, ending there in `_pending`: left out to its sentence end
        self._seam = ""  # the released text just before a cut, scanned with what follows it
        self._open = False  # the released text ends inside a sentence
        self._released: list[str] = []
        self.left_out = 0

    def release(self, text: str, *, final: bool) -> str:
        self._pending += text
        out: list[str] = []
        while self._pending or (final and self._name_end is not None):
            if self._name_end is not None:
                if not self._leave_out(out, self._name_end, final=final):
                    break
                continue
            seam = len(self._seam)
            folded, origin = _folded(self._seam + self._pending)
            hit, held = self._search(folded, final=final)
            if hit is None:
                if held < len(folded) and origin[held] < seam:
                    break  # a name may still run on from the released text: hold everything
                keep = origin[held] - seam if held < len(folded) else len(self._pending)
                self._emit(out, self._pending[:keep])
                self._pending, self._seam = self._pending[keep:], ""
                break
            start = max(origin[hit[0]] - seam, 0)  # a name begun in released text is cut where the new text starts
            self._emit(out, self._pending[:start])
            self.left_out += 1
            self._pending, self._seam = self._pending[start:], ""
            self._name_end = origin[hit[1] - 1] + 1 - seam - start
        self._released += out
        return "".join(out)

    def _search(self, folded: str, *, final: bool) -> tuple[tuple[int, int] | None, int]:
        """The first name in `folded` (start, end) or None; and where its longest tail that is the beginning of a
        name starts (len(folded): none, or `final`)."""
        if self._prefixes is None:
            if final:  # a text read whole, or nothing streamed: no prefix set needed
                return _first_hit(folded, self._names), len(folded)
            self._prefixes = (frozenset(n[:k] for n in self._names for k in range(1, len(n))), frozenset(self._names))
        prefixes, names = self._prefixes
        size = len(folded)
        for i in range(size):
            j = i + 1
            while j <= size:
                part = folded[i:j]
                if part in names:
                    return (i, j), size
                if part not in prefixes:
                    break
                j += 1
            else:
                if not final:
                    return None, i
        return None, size

    def _leave_out(self, out: list[str], name_end: int, *, final: bool) -> bool:
        """Drop the pending text from a found name through the end of its sentence; whether that end has come."""
        end = _sentence_end(self._pending, name_end, final=final)
        if end is None and not final:
            keep = _end_run(self._pending)  # a sentence end may be forming there; the rest is left out
            self._pending, self._name_end = self._pending[keep:], max(name_end - keep, 0)
            return False
        if self._open:  # the sentence had begun in released text: mark the cut
            gap = end.group() if end else ""
            self._emit(out, CUT_MARK + gap[len(gap.rstrip()) :])
        self._pending = self._pending[end.end() :] if end else ""
        self._name_end = None
        self._seam = _recent("".join(self._released + out), max(len(name) for name in self._names) - 1)
        return True

    def _emit(self, out: list[str], text: str) -> None:
        if text:
            out.append(text)
            self._open = _ends_open(self._open, text)


def fold(text: str) -> str:
    """`text` as the names are written and looked for (see the module's docstring), without outer spaces."""
    return _folded(text)[0].strip()


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` folded (see the module's docstring), and for each of its characters the index in `text` it comes
    from."""
    chars: list[str] = []
    origin: list[int] = []
    space = False
    for i, char in enumerate(text):
        for part in _fold_char(char):
            if part.isspace():
                if space:
                    continue
                space, part = True, " "
            else:
                space = False
            chars.append(part)
            origin.append(i)
    return "".join(chars), origin


@cache
def _fold_char(char: str) -> str:
    if char in _MARKUP or unicodedata.category(char) == "Cf":
        return ""
    return unicodedata.normalize("NFKC", char).casefold()


def _first_hit(folded: str, names: tuple[str, ...]) -> tuple[int, int] | None:
    """Where the first name starts and ends in `folded` (the earliest, then the shortest)."""
    hits = [(i, i + len(name)) for name in names if (i := folded.find(name)) >= 0]
    return min(hits) if hits else None


def _sentence_end(text: str, after: int, *, final: bool) -> re.Match[str] | None:
    """The first sentence end in `text` past `after`, once no text to come could lengthen it."""
    for end in _SENTENCE_END.finditer(text):
        if end.end() > after:
            return end if final or end.end() < len(text) else None
    return None


def _end_run(text: str) -> int:
    """Where the run of characters a sentence end is made of, at the end of `text`, starts."""
    i = len(text)
    while i and (text[i - 1] in _END_MARKS or text[i - 1] in _CLOSERS or text[i - 1].isspace()):
        i -= 1
    return i


def _ends_open(was_open: bool, text: str) -> bool:
    """Whether released text ends inside a sentence once `text` follows it (`was_open`: whether it did before)."""
    i = len(text)
    while i and (text[i - 1] in _CLOSERS or text[i - 1].isspace()):
        if text[i - 1] == "\n":
            return False
        i -= 1
    return was_open if not i else text[i - 1] not in _END_MARKS + CUT_MARK


def _recent(text: str, size: int) -> str:
    """An end of `text` at least `size` characters long as the names are written (or all of it)."""
    take = size
    while take < len(text) and len(_folded(text[-take:])[0]) < size:
        take *= 2
    return text[-take:] if take < len(text) else text
