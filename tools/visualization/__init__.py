"""Research views of trained checkpoints: attention maps, feature maps."""
