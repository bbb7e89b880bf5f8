"""Benchmarks behind ``lance-spiral bench``: codecs and compressed tables on any embeddings."""
