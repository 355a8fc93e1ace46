"""A codebook revision carried through the study's sessions.

Above annotator/coding in the layers (it opens SessionStore) and above annotator/codebook, whose
headless parts (the change as data, the edit of taxonomy.yaml, the changelog) it uses.
"""
