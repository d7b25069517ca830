"""Fixtures shared by every test package."""

from __future__ import annotations

import os

import pytest

from triage import TriageModel, load_model


@pytest.fixture(scope="session")
def model() -> TriageModel:
    """The model the server would use: TRIAGE_MODEL_DIR, or the shipped default."""
    return load_model(os.environ.get("TRIAGE_MODEL_DIR") or None)
