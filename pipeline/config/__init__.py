"""Settings sections: plain pydantic models that import nothing of zipcast's.

They sit at the bottom of the layers (:mod:`pipeline.settings` composes them into the one
``Settings`` object), so any module can take its own section without importing the rest.
"""
