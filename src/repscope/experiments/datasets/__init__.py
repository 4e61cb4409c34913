"""Embedded datasets: generated, or shipped with scikit-learn. Nothing is downloaded.

Submodules: ``digits`` (scikit-learn digits), ``spurious`` (digits with a spurious marker),
``dsprites`` (procedural dSprites-lite).
"""
