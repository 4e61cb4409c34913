"""Embedded tiny models (trained on the fly, cached). See :mod:`repscope.models.digits`."""
