"""Embedders: the approximator (distilled DeepSets, ONNX), a Bedrock Titan client, caches."""
