"""The Host Capacity chain as a quantitative, inspectable model (a HYPOTHESIS).

Gut dysbiosis → butyrate → colonocyte energy → NAD⁺ and α-KG → SIRT1/DNMT, TET2 and H3K9me3 at
Spp1 → inflammatory tone and osteopontin → mast cell activation threshold → mediator release →
what a client feels and what a lab measures. One packaged definition (``data/base.yaml``) is the
single source of truth; competing hypotheses (``essay``, ``biochemical``, ``butyrate_direct``,
``null``) are declared as edits of it, and phenotype presets (``healthy``, ``A``, ``B``, ``C``) as
parameter sets. From it hostcap derives the right-hand side, the analytic Jacobian and its
sparsity (sympy), SBML L3V2 and Antimony, and the model card.

This package is part of the pure core: it takes data and returns data, and reads only its own
packaged files.
"""

from hostcap.mechanistic_model.batch_simulation import (
    BatchResult,
    batch_steady_state,
    iter_batches,
    parameter_matrix,
    simulate_batch,
)
from hostcap.mechanistic_model.client_fitting import (
    DEFAULT_FIT_PARAMETERS,
    INTERVAL_METHODS,
    MEASURE_ALIASES,
    ClientFit,
    compare_variants,
    normalise_observations,
)
from hostcap.mechanistic_model.compilation import CompiledModel, compile_model
from hostcap.mechanistic_model.definition import (
    HYPOTHESIS_NOTE,
    PHENOTYPES,
    VARIANTS,
    Edge,
    ModelDefinition,
    ObservableSpec,
    ParameterSpec,
    PhenotypePreset,
    StateSpec,
    VariantSpec,
    load_definition,
    phenotype_preset,
    phenotype_presets,
    variant_specs,
)
from hostcap.mechanistic_model.exchange import sbml_errors, to_antimony, to_sbml
from hostcap.mechanistic_model.model_card import causal_diagram, model_card_markdown
from hostcap.mechanistic_model.observation_sampling import sample_observations
from hostcap.mechanistic_model.petab_export import petab_problem
from hostcap.mechanistic_model.protocols import (
    HOURS_PER_WEEK,
    InputSegment,
    InterventionDose,
    Phase,
    Protocol,
    input_segments,
    protocol_from_mapping,
    protocol_from_yaml,
    validate_protocol,
)
from hostcap.mechanistic_model.sensitivity_analysis import (
    DEFAULT_SENSITIVITY_PARAMETERS,
    SensitivityResult,
    sensitivity_analysis,
)
from hostcap.mechanistic_model.simulation import (
    SolverStatus,
    Trajectory,
    initial_state,
    simulate,
    steady_state,
)
from hostcap.mechanistic_model.trajectory_bands import expected_trajectory_band
from hostcap.mechanistic_model.virtual_population import (
    DEFAULT_QUANTILES,
    AcceptanceRule,
    CohortChunk,
    CohortStream,
    PopulationChunk,
    PopulationRun,
    QuantileBands,
    StreamedPopulation,
    VirtualPopulation,
    default_acceptance,
    generate_population,
    sample_parameters,
    simulate_population,
    simulate_stream,
    stream_cohort,
)

__all__ = [
    "DEFAULT_FIT_PARAMETERS",
    "DEFAULT_QUANTILES",
    "DEFAULT_SENSITIVITY_PARAMETERS",
    "HOURS_PER_WEEK",
    "HYPOTHESIS_NOTE",
    "INTERVAL_METHODS",
    "MEASURE_ALIASES",
    "PHENOTYPES",
    "VARIANTS",
    "AcceptanceRule",
    "BatchResult",
    "ClientFit",
    "CohortChunk",
    "CohortStream",
    "CompiledModel",
    "Edge",
    "InputSegment",
    "InterventionDose",
    "ModelDefinition",
    "ObservableSpec",
    "ParameterSpec",
    "Phase",
    "PhenotypePreset",
    "PopulationChunk",
    "PopulationRun",
    "Protocol",
    "QuantileBands",
    "SensitivityResult",
    "SolverStatus",
    "StateSpec",
    "StreamedPopulation",
    "Trajectory",
    "VariantSpec",
    "VirtualPopulation",
    "batch_steady_state",
    "causal_diagram",
    "compare_variants",
    "compile_model",
    "default_acceptance",
    "expected_trajectory_band",
    "generate_population",
    "initial_state",
    "input_segments",
    "iter_batches",
    "load_definition",
    "model_card_markdown",
    "normalise_observations",
    "parameter_matrix",
    "petab_problem",
    "phenotype_preset",
    "phenotype_presets",
    "protocol_from_mapping",
    "protocol_from_yaml",
    "sample_observations",
    "sample_parameters",
    "sbml_errors",
    "sensitivity_analysis",
    "simulate",
    "simulate_batch",
    "simulate_population",
    "simulate_stream",
    "steady_state",
    "stream_cohort",
    "to_antimony",
    "to_sbml",
    "validate_protocol",
    "variant_specs",
]
