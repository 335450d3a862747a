"""``slmselect evaluate``: how good are the recommendations on datasets the recommender has not seen?

Nested cross-validation over datasets (``docs/evaluation.md``): :mod:`.run` holds the procedure,
:mod:`.metrics` scores one order against the truth, :mod:`.report` the figures and their summary.
"""

from slmselect.evaluation.report import ALL, METHODS, Comparison, EvaluationReport, MethodFigures, TaskResult
from slmselect.evaluation.run import EDGE_TOLERANCE, evaluate

__all__ = ["ALL", "EDGE_TOLERANCE", "METHODS", "Comparison", "EvaluationReport", "MethodFigures", "TaskResult", "evaluate"]
