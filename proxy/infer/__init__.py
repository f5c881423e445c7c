"""Template inference: from recorded exchanges to action templates whose values are bound to the
answers that produced them (``infer_templates``), and back from templates to requests
(``render_request``, ``extract_values``)."""

from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.instantiate import extract_values, missing_values, render_request
from venom_replay.proxy.infer.model import ActionTemplate, Consumption, Production, Step, TemplateSet

__all__ = ["ActionTemplate", "Consumption", "Production", "Step", "TemplateSet", "extract_values", "infer_templates",
           "missing_values", "render_request"]
