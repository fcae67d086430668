"""Layer-wise and unit-wise static/dynamic metrics (METHOD.md sections 3-4). numpy only.

Nothing here imports torch: a user re-analyses a features.h5 file (another lambda, another
estimator) without the model or a GPU. Every formula is in ``core``; ``layerwise``/``unitwise``
(from rows), ``moments`` (mergeable sums), ``bootstrap`` and ``lambda_sweep`` call it;
``intervals`` summarises samples; ``features_file`` is the one reader of features.h5.
"""

from staticdyn.metrics.layerwise import LayerResult, layerwise
from staticdyn.metrics.unitwise import UnitResult, unit_scores, unitwise

__all__ = ["LayerResult", "UnitResult", "layerwise", "unit_scores", "unitwise"]
