"""nablab: a lab for how neural networks learn.

``nablab.nn`` is the engine (modules with explicit matrix-form backward passes),
``nablab.init`` the initializers and ``nablab.analysis`` the gradient checks.
"""

from nablab import analysis, init, nn

__version__ = "0.1.0"

__all__ = ["__version__", "analysis", "init", "nn"]
