"""CPU seconds (all threads) of each stage of ``hostcap population --n N --params-out``.

Run with the ``src`` of the code to measure first on ``PYTHONPATH`` and ``PROTO`` naming the
gut-first protocol file: ``python benchmarks/population_stages.py 8000 after`` (``before`` for
the code before issue 17, whose params CSV was written by pandas ``to_csv`` and whose chunks
came back as ``BatchResult``). CPU time summed over threads is used rather than wall time: on
the shared 2-core machine it is far less disturbed by other jobs. Used for the before/after
profile of issue 17 in ``results/model_scale.md``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def main(n: int, label: str) -> dict[str, Any]:
    cpu = time.process_time
    t0 = cpu()
    import numpy as np

    import hostcap.mechanistic_model.virtual_population as vp
    from hostcap.mechanistic_model import compile_model, generate_population, protocol_from_yaml

    try:  # where the chunk task lives since the pipeline was split into modules
        from hostcap.mechanistic_model.population_simulation import _simulate_chunk
    except ImportError:  # the code before that split
        _simulate_chunk = vp._simulate_chunk
    try:  # where the --params-out writers live since the services were split into modules
        import hostcap.services.population_runs as ms
    except ImportError:  # the code before that split
        import hostcap.services.modelling_scale as ms  # type: ignore[no-redef]

    t_import = cpu() - t0
    text = Path(os.environ["PROTO"]).read_text(encoding="utf-8")
    protocol = protocol_from_yaml(text).model_dump(mode="json")
    m = compile_model("essay")
    generate_population("essay", "A", 20)  # the compiled kernels loaded before timing
    t0 = cpu()
    pop = generate_population("essay", "A", n, seed=1)
    t_gen = cpu() - t0
    names = (*m.state_ids, *m.observable_ids)
    t_sim = t_band = 0.0
    bands: Any = None
    for lo in range(0, n, 2000):
        p, y0 = pop.parameters[:, lo : lo + 2000], pop.initial_states[:, lo : lo + 2000]
        t0 = cpu()
        res = _simulate_chunk("essay", protocol, "A", 16.0, p, y0, 1e-6, 1e-9, lo, names)
        t_sim += cpu() - t0
        t0 = cpu()
        if bands is None:
            bands = vp.QuantileBands(list(names), res.time_h)
        if hasattr(res, "parts"):
            bands.add(res.parts)
        else:  # before: stacked per name, as simulate_population did
            bands.add(np.stack([res[name] for name in names], axis=2))
        t_band += cpu() - t0
    t0 = cpu()
    bands.result()
    t_band += cpu() - t0
    t0 = cpu()
    if label == "before":
        pop.parameters_frame().to_csv(io.StringIO(), index=False, float_format="%.17g")
    else:
        import pyarrow.csv as pa_csv

        schema = ms._params_schema(pop.parameter_ids, pop.state_ids)
        with pa_csv.CSVWriter(io.BytesIO(), schema) as writer:
            for lo in range(0, n, 2000):
                chunk = vp.CohortChunk(
                    lo, pop.parameters[:, lo : lo + 2000], pop.initial_states[:, lo : lo + 2000]
                )
                writer.write_table(ms._params_table(schema, chunk))
    t_csv = cpu() - t0
    return {
        "import": t_import,
        "generate (draw + screen)": t_gen,
        "simulate": t_sim,
        "bands": t_band,
        "params CSV": t_csv,
        "candidates": pop.n_drawn,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2])))
