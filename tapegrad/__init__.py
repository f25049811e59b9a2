"""The tapegrad application: the ``tapegrad`` command and its demo.

The library is ``autograd`` (the engine) and ``nn`` (layers, losses, optimizers); this package
sits above both and is the only one that uses scikit-learn, matplotlib and tqdm. Imports run one
way: ``tapegrad`` -> ``nn`` -> ``autograd``.
"""
