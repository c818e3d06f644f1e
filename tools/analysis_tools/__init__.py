"""Reading finished runs: curves against a reference, checkpoint integrity."""
