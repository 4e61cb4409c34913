"""repscope's version: the one place it is written (pyproject.toml reads it; the store's metadata, the Dask
workers' report and ``repscope.__version__`` import it from here, at the bottom layer)."""

__version__ = "0.1.0"
