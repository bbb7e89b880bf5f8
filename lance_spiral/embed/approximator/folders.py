"""Where approximator models live: the shipped general model and the default folder."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["default_model_dir", "missing_folder_message", "shipped_model_dir"]


def shipped_model_dir() -> Path:
    """The general model shipped inside the package: ``lance_spiral/data/approximator``.

    Distilled from all-MiniLM-L6-v2 on licence-clean general text (see the folder's NOTICE); it
    is package data, so it is there after ``pip install`` from a wheel as in a source checkout.
    """
    return Path(str(resources.files("lance_spiral") / "data" / "approximator"))


def default_model_dir() -> Path:
    """Default model dir: ``$LANCE_SPIRAL_APPROXIMATOR``, else the shipped general model.

    Returns:
        The directory (:func:`shipped_model_dir` when the variable is unset or empty).
    """
    env = os.environ.get("LANCE_SPIRAL_APPROXIMATOR")
    if env:
        return Path(env)
    return shipped_model_dir()


def missing_folder_message(d: Path) -> str:
    """Why ``d`` is missing and what to do, for the NotFoundError of :class:`Approximator`."""
    env = os.environ.get("LANCE_SPIRAL_APPROXIMATOR")
    if env and Path(env) == d:
        return (f"approximator folder {d} not found (it comes from $LANCE_SPIRAL_APPROXIMATOR; "
                "unset it to use the shipped model)")
    if d == shipped_model_dir():
        return (f"approximator folder {d} not found: the shipped model is missing from this "
                "installation of lance-spiral (reinstall it, or pass a model folder)")
    return (f"approximator folder {d} not found (pass the folder a `lance-spiral distill --out` "
            "wrote, or omit it for the shipped model)")
