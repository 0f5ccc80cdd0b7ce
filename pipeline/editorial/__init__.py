"""Editorial state and text: the editor gate, messages and their versions, placeholder
rendering and SMS counts, staff notices ("sheet ready", missed deadlines).

Below the web sheet (:mod:`pipeline.review`) and dispatch (:mod:`pipeline.dispatch`), which
both read it; it imports neither.
"""
