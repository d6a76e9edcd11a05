"""The parts of `python -m training.draft` (training/draft.py puts them together).

`columns`: which columns become features, of which kind, within which bounds;
`target`: the task, the labels and the adverse one; `yaml_text`: the spec file's text.
"""


class DraftError(ValueError):
    """The file cannot be drafted into a spec; the message says why, on one line."""
