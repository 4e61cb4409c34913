"""Embedded tiny models (trained on the fly, cached). See :mod:`repscope.experiments.models.digits`."""
