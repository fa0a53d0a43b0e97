#!/usr/bin/env python
"""Generate the student notebooks in exercises/ from the solution notebooks in solutions/.

    python scripts/make_exercises.py           # (re)write exercises/*.ipynb
    python scripts/make_exercises.py --check   # change nothing; exit 1 if exercises/ drifted

Solution regions (### BEGIN SOLUTION ... ### END SOLUTION) become `raise NotImplementedError()`
stubs via nbgrader's ClearSolutions; outputs are stripped. The logic is in biobert_ner.grading;
this script is `biobert-ner make-exercises` (python -m biobert_ner make-exercises) under its old name.
"""

import sys

from biobert_ner.cli import main

if __name__ == "__main__":
    sys.exit(main(["make-exercises", *sys.argv[1:]]))
