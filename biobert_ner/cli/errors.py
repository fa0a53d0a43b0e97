"""How the command line reports a problem: the usage error type and the one-line message.

Apart from :mod:`biobert_ner.cli.core` so that the flag generator (:mod:`biobert_ner.cli.flags`),
which the core imports, can raise and word errors the same way without importing the core back.
"""

from __future__ import annotations


class UsageError(Exception):
    """Flags that make no sense together (exit code 2, like argparse's own errors)."""


def one_line(error: BaseException) -> str:
    """An exception as one line (multi-line messages joined), for ``error: ...``."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__
