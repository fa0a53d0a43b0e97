"""pytest settings for the notebooks (collected by nbval): every notebook is an end-to-end test, so mark it slow.

``pytest -m "not slow"`` then leaves the notebooks out, as it leaves out the other end-to-end tests.
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(getattr(item, "path", getattr(item, "fspath", ""))))
        if path.suffix == ".ipynb" and HERE in path.resolve().parents:
            item.add_marker(pytest.mark.slow)
