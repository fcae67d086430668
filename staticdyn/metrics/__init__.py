"""Layer-wise and unit-wise static/dynamic metrics (METHOD.md sections 3-4). numpy only.

Nothing here imports torch: a user re-analyses a features.h5 file (another lambda, another
estimator) without the model or a GPU.
"""

from staticdyn.metrics.layerwise import LayerResult, layerwise
from staticdyn.metrics.unitwise import UnitResult, unit_scores, unitwise

__all__ = ["LayerResult", "UnitResult", "layerwise", "unit_scores", "unitwise"]
