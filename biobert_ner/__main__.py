"""``python -m biobert_ner ...`` is the ``biobert-ner`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
