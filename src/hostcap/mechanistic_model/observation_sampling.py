"""Draw noisy measurements from a trajectory with the measurement-error models of the definition.

Noise is measurement error, never signal (each observable's citation in ``docs/evidence.md``):
serum tryptase lognormal with the
within-subject and analytical CVs combined (8.4 %), hs-CRP lognormal with a ~50 % within-subject
CV, symptom load normal (sd 0.8 points) clipped to 0-10, food tolerance binomial on a 20-food
panel, and so on (``observables`` in ``data/base.yaml``). Draws are reproducible by seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hostcap.errors import UnknownIdError
from hostcap.mechanistic_model.compilation import compile_model
from hostcap.mechanistic_model.definition import NoiseModel
from hostcap.mechanistic_model.simulation import Trajectory

__all__ = ["draw_measurement", "sample_observations"]


def draw_measurement(
    true_values: np.ndarray, noise: NoiseModel, rng: np.random.Generator
) -> np.ndarray:
    """Noisy measurements of ``true_values`` under one noise model.

    A lognormal with coefficient of variation ``cv`` has log-sd ``sqrt(log(1 + cv²))`` and is
    centred so its *mean* equals the true value.
    """
    x = np.asarray(true_values, dtype=float)
    if noise.distribution == "lognormal":
        sigma = float(np.sqrt(np.log1p((noise.cv or 0.0) ** 2)))
        drawn = x * rng.lognormal(-0.5 * sigma**2, sigma, size=x.shape)
    elif noise.distribution == "normal":
        drawn = x + rng.normal(0.0, noise.sd or 0.0, size=x.shape)
    else:
        n = int(noise.n or 1)
        drawn = rng.binomial(n, np.clip(x, 0.0, 1.0)) / n
    lower = -np.inf if noise.lower is None else noise.lower
    upper = np.inf if noise.upper is None else noise.upper
    return np.asarray(np.clip(drawn, lower, upper), dtype=float)


def sample_observations(
    trajectory: Trajectory,
    *,
    weeks: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Measurements drawn at visit weeks from a simulated trajectory.

    Parameters
    ----------
    trajectory
        A result of :func:`~hostcap.mechanistic_model.simulate`.
    weeks
        Visit weeks (default: every 4 weeks); each visit uses the saved time nearest it.
    names
        Observable ids (default: all).
    seed
        Seed of the random generator; the same seed gives the same draws.

    Returns
    -------
    pandas.DataFrame
        Tidy: ``week, time_h, name, true_value, value, unit``.
    """
    spec = {o.id: o for o in compile_model(trajectory.variant).definition.observables}
    chosen = list(names) if names is not None else list(trajectory.observable_ids)
    for name in chosen:
        if name not in spec:
            raise UnknownIdError("observable", name, spec)
    end_week = float(trajectory.week[-1]) if trajectory.time_h.size else 0.0
    visits = list(weeks) if weeks is not None else list(np.arange(0.0, end_week + 1e-9, 4.0))
    idx = [int(np.argmin(np.abs(trajectory.week - w))) for w in visits]
    rng = np.random.default_rng(seed)
    frames = []
    for name in chosen:
        truth = trajectory[name][idx]
        frames.append(
            pd.DataFrame(
                {
                    "week": [float(w) for w in visits],
                    "time_h": trajectory.time_h[idx],
                    "name": name,
                    "true_value": truth,
                    "value": draw_measurement(truth, spec[name].noise, rng),
                    "unit": spec[name].unit,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
