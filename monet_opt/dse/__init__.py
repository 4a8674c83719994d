"""Hardware design-space exploration (``monet-opt dse``)."""
