"""The Textual layer: screens and widgets over the headless store. No SQL here.

The coding screen calls the store by intent (``record_label``, ``next_uncoded``, ``undo``...)
and shows a label as saved only after the store has committed it.
"""
