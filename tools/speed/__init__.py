"""Performance benchmarks: the training step (FLOPs, MFU, memory) and the data pipeline."""
