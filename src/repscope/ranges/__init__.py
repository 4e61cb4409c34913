"""repscope.ranges — activation ranges (O'Mahony, Nikolov & O'Sullivan 2024, arXiv 2411.10019).

Bands over a scalar unit (logit, neuron, direction), what characterises each band (attribute
distributions, Cramér's V / mutual information with permutation p-values), confounder findings
(associations visible in the mid band but not the top band), mid-range curation for last-layer
retraining, and a mitigation benchmark against ERM, JTT-style up-weighting and DFR.

    from repscope import ranges
    b = ranges.logit_bands(logits, unit=3)                       # low / mid / high / top on t_3
    a = ranges.associations(b, {"marker": m, "digit": y}, reference=y == 3)
    ranges.find_confounders(a).table()
"""

from __future__ import annotations

from repscope.ranges.associations import (
    BandAssociations,
    ConfounderFindings,
    adjust_pvalues,
    band_associations,
    contingency,
    cramers_v,
    find_confounders,
    mutual_information,
)
from repscope.ranges.bands import (
    Bands,
    bands,
    class_mean_direction,
    logit_bands,
    normalised_logits,
    parse_unit,
    probe_direction,
    unit_scores,
)
from repscope.ranges.views import BandHistogram, BandImageGrid, band_histogram, band_image_grid

associations = band_associations

__all__ = [
    "Bands",
    "bands",
    "logit_bands",
    "unit_scores",
    "normalised_logits",
    "class_mean_direction",
    "probe_direction",
    "parse_unit",
    "contingency",
    "cramers_v",
    "mutual_information",
    "adjust_pvalues",
    "BandAssociations",
    "band_associations",
    "associations",
    "ConfounderFindings",
    "find_confounders",
    "BandHistogram",
    "band_histogram",
    "BandImageGrid",
    "band_image_grid",
]
