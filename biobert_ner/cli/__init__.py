"""The ``biobert-ner`` command (also ``python -m biobert_ner``): info, data, train, evaluate, predict, export, ...

Every sub-command is built the same way (:mod:`.core`): its settings dataclass becomes flags
through transformers' ``HfArgumentParser`` (:mod:`.flags`), a small function adds the command's
own inputs and outputs, another runs it. The commands live by job: :mod:`.setup_commands`
(info, data), :mod:`.train_commands` (train, evaluate), :mod:`.predict_commands` (predict,
export), :mod:`.course_commands` (run-notebooks, grade, make-exercises).

Errors a user can fix (a missing folder, a malformed corpus line, a model that cannot be had
offline, a bad flag) end the program with one line ``error: ...`` on stderr and a non-zero
exit code: 2 for usage errors (as argparse does), 1 for everything else. ``--debug`` shows the
traceback instead, for when the error is ours.

Data, wherever a command takes ``--data``: ``bundled`` (the small teaching corpus), a real corpus
by name (``ncbi-disease`` ships with the package; ``bc5cdr``, ``bc2gm``, ``linnaeus``, ... are
fetched and verified on first use; ``biobert-ner data list`` shows them, ``biobert-ner data
fetch NAME`` fetches ahead, e.g. before going offline), a folder of TSV files, or a hub id.
"""

from . import setup_commands, train_commands, predict_commands, course_commands  # noqa: F401  (each registers its commands, in this order)
from .core import COMMANDS, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, PROG, Command, HelpFormatter, OneLineParser, build_parser, main, register
from .errors import UsageError
from .flags import field_help, setting_names, settings_flags, settings_from_args, typed_settings

__all__ = [
    "COMMANDS", "EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "PROG", "Command", "HelpFormatter", "OneLineParser", "UsageError",
    "build_parser", "field_help", "main", "register", "setting_names", "settings_flags", "settings_from_args", "typed_settings",
]
