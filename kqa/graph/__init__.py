"""Knowledge graph: extraction from text with spaCy, a crash-safe store, importers (WordNet, ConceptNet)."""
