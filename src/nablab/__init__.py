"""nablab: a lab for how neural networks learn.

``nablab.nn`` is the engine (modules with explicit matrix-form backward passes),
``nablab.init`` the initializers, ``nablab.optim`` the optimizers and ``nablab.analysis``
gradient checks and Hessians.
"""

from nablab import analysis, init, nn, optim

__version__ = "0.1.0"

__all__ = ["__version__", "analysis", "init", "nn", "optim"]
