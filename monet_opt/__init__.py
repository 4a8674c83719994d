"""monet-opt: model and exactly optimize NN training on multi-core dataflow accelerators."""

__version__ = "0.1.0"
