"""Who is it: face embeddings against an enrolled gallery."""
