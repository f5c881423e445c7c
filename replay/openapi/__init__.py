"""An OpenAPI 3.1 document learned from a recording: what `venom-replay openapi` writes.

Reads only the ``TemplateSet`` and the recording it was learned from; one module per part of the
document (parameters, schemas, security, links, examples), assembled in ``document.py``.
"""

from venom_replay.replay.openapi.document import build_document
from venom_replay.replay.openapi.writer import write_document

__all__ = ["build_document", "write_document"]
