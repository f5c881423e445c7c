"""Value mutations learned from the recording, run after the sequence search: changed request values
(dropped fields, nulls, wrong types, boundaries, broken formats, foreign ids, echoed fields), each sent
once from a state the search reached and rolled back like every step.

- ``model.py``: ``Mutation``; ``apply.py``: a mutation applied to a rendered request;
- ``generate.py``: the mutations of one template variant, from its recorded requests and answers;
- ``judge.py``: which checkers judge a mutated call, and its findings' buckets;
- ``run.py``: the mutation phase of ``explore()``; ``settings.py``: its options and ``[mutations]``.
"""
