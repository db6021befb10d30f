"""Fixtures of the end-to-end classroom tests (helpers in classroom_helpers.py)."""

from classroom_helpers import bundles  # noqa: F401 - a session fixture
