"""Knowledge retrieval: link text to graph concepts, walk graph paths, search verbalized facts with FAISS."""
