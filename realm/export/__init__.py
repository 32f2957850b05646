"""Export of fine-tuned models for TensorFlow Serving, and the client that queries them."""
