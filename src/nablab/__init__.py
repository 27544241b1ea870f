"""nablab: a lab for how neural networks learn.

``nablab.nn`` is the engine (modules with explicit matrix-form backward passes),
``nablab.init`` the initializers, ``nablab.optim`` the optimizers and ``nablab.analysis``
gradient checks and Hessians.
"""

from nablab import analysis, data, init, nn, optim
from nablab.summary import Summary, summary

__version__ = "0.1.0"

__all__ = ["Summary", "__version__", "analysis", "data", "init", "nn", "optim", "summary"]
