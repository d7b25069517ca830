"""Triage Desk's NLP engine: normalise, segment, classify, match FAQs and decide the route.

A pure library: no web framework, no database. Typical use::

    from triage import load_model
    model = load_model()            # the shipped default model
    decision = model.classify("退款多久能到账？")
    decision.auto_reply, decision.faq_id, decision.queue
"""

from triage.artifact import DEFAULT_MODEL_DIR, ModelLoadError, load_model, save_model
from triage.dataset import DataError, Example, read_examples
from triage.engine import Decision, EmptyTextError, Thresholds, TriageModel
from triage.taxonomy import Faq, Taxonomy, load_faqs, load_taxonomy

__all__ = [
    "DEFAULT_MODEL_DIR",
    "DataError",
    "Decision",
    "EmptyTextError",
    "Example",
    "Faq",
    "ModelLoadError",
    "Taxonomy",
    "Thresholds",
    "TriageModel",
    "load_faqs",
    "load_model",
    "load_taxonomy",
    "read_examples",
    "save_model",
]
