# The ViT of the CPU variants: 4 layers, 64-d, 4 heads, 32-px images in 4-px patches (64 tokens).
tiny_arch = dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256)
