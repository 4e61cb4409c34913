"""repscope.experiments — everything that is *not* analysis code: demos, reproductions, data, models.

The library (``capture``, ``store``, ``metrics``, ``ranges``, ``topology``, ``dynamics``, ``descramble``,
``report``) never imports this package; this package depends on the library. It holds:

- ``datasets``  — embedded data: scikit-learn digits, spurious digits, procedural dSprites-lite;
- ``models``    — tiny models trained on the fly (digits CNN/MLP) and the offline MiniLM capture;
- ``pipeline``  — the ``repscope demo`` job (train → capture → every lens → report);
- ``similarity``, ``ranges``, ``topology``, ``dynamics``, ``descramble`` — per lens: the demo report's
  section (``demo.py``), the reproductions of the papers and their benchmarks, built-in test systems.
"""
