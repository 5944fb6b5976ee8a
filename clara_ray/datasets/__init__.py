"""Document corpus, hybrid search (vector + graph + keyword) and the dataset registry; import submodules directly."""
