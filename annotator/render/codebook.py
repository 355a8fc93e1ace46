"""The codebook as a rich Tree (``annotator taxonomy show``)."""

from __future__ import annotations

from annotator.codebook.model import Codebook


def render_tree(codebook: Codebook):
    """A rich Tree of the codebook with keys and definitions (names are Text, never markup)."""
    from rich.text import Text
    from rich.tree import Tree

    root = Tree(Text(codebook.name, style="bold"))
    for dimension in codebook.dimensions:
        label = Text.assemble((dimension.name, "bold"), f"  [{dimension.id}, ",
                              "multi-label" if dimension.multi else "single-choice", "]")
        if dimension.requires:
            label.append("  asked when " + "; ".join(f"{d} is {' or '.join(c)}" for d, c in dimension.requires.items()),
                         style="dim")
            if dimension.on_condition_lost == "keep":
                label.append(" (codes kept when not)", style="dim")
        branch = root.add(label)

        def add(parent_branch, codes, prefix=""):
            for code in codes:
                chord = prefix + code.key
                text = Text.assemble((f"{chord:>3} ", "bold cyan"), (code.name, "bold"), f"  ({code.id})")
                if code.retired:
                    text.append("  retired", style="red")
                if code.definition:
                    text.append("\n    " + code.definition, style="dim")
                node = parent_branch.add(text)
                add(node, code.children, chord)

        add(branch, dimension.codes)
    return root
