"""The mechanistic model against published human data (HYPOTHESIS TESTING).

Published human results as data (``data/literature_results.yaml``: each number with its source
sentence, study design, spread and model mapping, and a calibration / held-out split declared
before any fitting), their evaluation through ``simulate()`` for every model variant, and the
verdicts (within the published range, within 2×, off, undecidable).

Part of the pure core: it reads only its own packaged files and imports the mechanistic model and
the citation registry.
"""

from hostcap.model_validation.literature_calibration import (
    CALIBRATION_NOISE_FRACTION,
    DELTA_CHI2_95,
    ZERO_CHANGE_NOISE,
    CalibratedParameter,
    CalibrationTarget,
    LiteratureCalibration,
    calibrate_literature,
    calibrated_parameter_ids,
    calibration_petab_tables,
    calibration_targets,
)
from hostcap.model_validation.literature_evaluation import (
    VALIDATION_COLUMNS,
    model_value,
    resolve_variants,
    summarise_validation,
    validate_literature,
    with_parameters,
)
from hostcap.model_validation.literature_results import (
    LiteratureResult,
    ResultDesign,
    ResultMapping,
    ResultStatus,
    Split,
    SpreadKind,
    StatePerturbation,
    check_literature_results,
    literature_results,
    result_protocols,
)
from hostcap.model_validation.validation_figures import FAMILY_TITLES, validation_figures
from hostcap.model_validation.validation_report import (
    VARIANT_AGREEMENT_TOLERANCE,
    validation_markdown,
    variant_disagreements,
)
from hostcap.model_validation.variant_discrimination import (
    DECISIVE_LOG_BF,
    DEFAULT_MEASURES,
    DEFAULT_MEMBERS,
    DISCRIMINATION_COLUMNS,
    INDISTINGUISHABLE_KL,
    RESOLUTION_SE,
    CandidateProtocol,
    candidate_protocols,
    clients_for_decisive,
    discriminate_variants,
)
from hostcap.model_validation.verdicts import RATIO_LIMIT, Verdict, verdict

__all__ = [
    "CALIBRATION_NOISE_FRACTION",
    "DECISIVE_LOG_BF",
    "DEFAULT_MEASURES",
    "DEFAULT_MEMBERS",
    "DELTA_CHI2_95",
    "DISCRIMINATION_COLUMNS",
    "FAMILY_TITLES",
    "INDISTINGUISHABLE_KL",
    "RATIO_LIMIT",
    "RESOLUTION_SE",
    "VALIDATION_COLUMNS",
    "VARIANT_AGREEMENT_TOLERANCE",
    "ZERO_CHANGE_NOISE",
    "CalibratedParameter",
    "CalibrationTarget",
    "CandidateProtocol",
    "LiteratureCalibration",
    "LiteratureResult",
    "ResultDesign",
    "ResultMapping",
    "ResultStatus",
    "Split",
    "SpreadKind",
    "StatePerturbation",
    "Verdict",
    "calibrate_literature",
    "calibrated_parameter_ids",
    "calibration_petab_tables",
    "calibration_targets",
    "candidate_protocols",
    "check_literature_results",
    "clients_for_decisive",
    "discriminate_variants",
    "literature_results",
    "model_value",
    "resolve_variants",
    "result_protocols",
    "summarise_validation",
    "validate_literature",
    "validation_figures",
    "validation_markdown",
    "variant_disagreements",
    "verdict",
    "with_parameters",
]
