"""repscope.ranges — activation ranges (O'Mahony, Nikolov & O'Sullivan 2024, arXiv 2411.10019).

Bands over a scalar unit (logit, neuron, direction), what characterises each band (attribute
distributions, Cramér's V / mutual information with permutation p-values), confounder findings
(associations visible in the mid band but not the top band), mid-range curation for last-layer
retraining, and a mitigation benchmark against ERM, JTT-style up-weighting and DFR.

    from repscope import ranges
    b = ranges.logit_bands(logits, unit=3)                       # low / mid / high / top on t_3
    a = ranges.associations(b, {"marker": m, "digit": y}, reference=y == 3)
    ranges.find_confounders(a).table()
    w = ranges.curate(val_logits, val_labels).weights            # mid-range up-weighting, no group labels
    head = ranges.fit_last_layer(val_features, val_labels, C=0.1, sample_weight=w)
"""

from __future__ import annotations

from repscope.ranges._associations import (
    BandAssociations,
    ConfounderFindings,
    adjust_pvalues,
    band_associations,
    contingency,
    cramers_v,
    find_confounders,
    mutual_information,
)
from repscope.ranges._bands import (
    Bands,
    bands,
    class_mean_direction,
    logit_bands,
    normalised_logits,
    parse_unit,
    probe_direction,
    unit_scores,
)
from repscope.ranges.retrain import (
    C_GRID,
    Curation,
    LinearHead,
    curate,
    fit_last_layer,
    group_accuracies,
    group_balanced_sampler,
    jtt_weights,
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
    "C_GRID",
    "Curation",
    "LinearHead",
    "curate",
    "fit_last_layer",
    "group_accuracies",
    "group_balanced_sampler",
    "jtt_weights",
    "analyse",
    "applies",
    "RangesAnalysis",
    "analyse_store",
    "analyse_bands",
    "RangeAnalysis",
]


def __getattr__(name: str):
    # torch-/store-facing parts load lazily so `import repscope.ranges` stays light
    if name in ("analyse", "applies", "RangesAnalysis"):
        from repscope.ranges import entry

        return getattr(entry, name)
    if name in ("analyse_store", "analyse_bands", "RangeAnalysis"):
        from repscope.ranges import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'repscope.ranges' has no attribute {name!r}")
